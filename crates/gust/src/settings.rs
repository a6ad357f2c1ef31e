//! The settings of `gust serve`: every flag and `GUST_*` variable, read once at start into the
//! configs of the server, its runtimes and its background work. A value that does not parse,
//! or lies outside its range, stops the start with an error naming the flag or variable and
//! what it accepts: a typo must not run a server on a default nobody chose.
//!
//! A flag wins over its variable. The defaults live with the configs themselves
//! (`ServerConfig::new`, `WasmConfig::new`, `ProcessConfig::new`, `JobsConfig::default`).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use gust_engine::ServerConfig;
use gust_engine::jobs::JobsConfig;
use gust_runtime_process::ProcessConfig;
use gust_runtime_wasm::WasmConfig;
use gust_store::BlobUrl;
use tracing_subscriber::EnvFilter;

/// The flags of `gust serve`. Each also has a variable; every other setting is a variable only
/// (README.md, Configuration, lists them all).
#[derive(Args, Debug, Default)]
pub struct ServeFlags {
    /// Address to listen on; port 0 picks a free port (the real one is printed)
    /// [env: GUST_LISTEN] [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// Where state lives: the SQLite database, code blobs, compiled artifacts
    /// [env: GUST_DATA_DIR] [default: ./gust-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<OsString>,
    /// Keep the state in this PostgreSQL database instead of SQLite in the data dir
    /// (`postgres://user:password@host:port/database`) [env: GUST_DATABASE_URL].
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Keep uploads and extracted code here too, shared by every node, the data dir being
    /// this node's cache: `s3://BUCKET/PREFIX?endpoint=URL&region=…` (credentials from
    /// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or `file:///DIR` [env: GUST_BLOB_URL]
    /// [default: the data dir alone].
    #[arg(long, value_name = "URL")]
    blob_url: Option<String>,
    /// Largest deployment upload, in MiB [env: GUST_MAX_UPLOAD_MB] [default: 100].
    #[arg(long, value_name = "MIB")]
    max_upload_mb: Option<String>,
    /// Base URL shown in function URLs [env: GUST_PUBLIC_URL] [default: http://<listen address>].
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
    /// Base of every function's domain name, `<function>.<namespace>.<this>`
    /// [env: GUST_FUNCTIONS_DOMAIN] [default: functions.localhost].
    #[arg(long, value_name = "DOMAIN")]
    functions_domain: Option<String>,
    /// Server log format on stderr: text or json [env: GUST_LOG_FORMAT] [default: text].
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Serve HTTPS on --listen with this PEM certificate chain (with --tls-key; SIGHUP
    /// reloads both) [env: GUST_TLS_CERT].
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<OsString>,
    /// The PEM private key of --tls-cert [env: GUST_TLS_KEY].
    #[arg(long, value_name = "FILE")]
    tls_key: Option<OsString>,
    /// With TLS: also serve plain HTTP here (functions with `http_option: redirected` send
    /// their callers to HTTPS) [env: GUST_PLAIN_LISTEN].
    #[arg(long, value_name = "HOST:PORT")]
    plain_listen: Option<String>,
    /// The master keys that seal secrets: `<id> <64 hex digits>` a line, or one hex key
    /// [env: GUST_MASTER_KEY_FILE] [default: DATA_DIR/master.key, made at first start].
    #[arg(long, value_name = "FILE")]
    master_key_file: Option<OsString>,
    /// This server's name among those sharing one database: letters, digits, '.', '_' and
    /// '-' [env: GUST_NODE_ID] [default: the host name and a random suffix, made at first
    /// start and kept in DATA_DIR/node-id].
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `gust serve` runs with.
#[derive(Debug)]
pub struct Settings {
    pub listen: String,
    /// Plain HTTP beside HTTPS.
    pub plain_listen: Option<String>,
    /// The certificate chain and key HTTPS is served with.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub limits: gust_api::Limits,
    pub log_filter: EnvFilter,
    pub log_format: LogFormat,
    pub server: ServerConfig,
    /// `GUST_*` variables that are set but mean nothing to the server: likely misspelt.
    pub unknown_variables: Vec<String>,
}

/// The variables of the process that settings may come from.
#[derive(Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, OsString>,
}

impl Environment {
    pub fn of_process() -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value)))
            .filter(|(name, _)| name.starts_with("GUST_") || name == RUST_LOG)
            .collect();
        Self { vars }
    }
}

const RUST_LOG: &str = "RUST_LOG";
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
const DEFAULT_DATA_DIR: &str = "./gust-data";
const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,wasmtime=warn,cranelift=warn";

/// Variables of the same prefix that are not server settings: the client's, and those the
/// server sets for its own children (the re-executed sandbox spawner, and workers).
const NOT_SETTINGS: [&str; 6] = [
    "GUST_URL",
    "GUST_TOKEN",
    "GUST_SANDBOX_SPAWNER",
    "GUST_SANDBOX_SPAWNER_CONFIG",
    "GUST_EXEC_MONOTONIC_NS",
    "GUST_RUNTIME",
];

/// Old names, refused rather than ignored so a renamed setting is never silently dropped.
const RENAMED: [(&str, &str); 2] = [
    ("GUST_RETRY_MAX_S", "GUST_RETRY_MAX_SECS"),
    ("GUST_RETENTION_INTERVAL_S", "GUST_RETENTION_INTERVAL_SECS"),
];

/// A setting given as a whole number of `unit`, accepted within `range`.
struct Number {
    variable: &'static str,
    flag: Option<&'static str>,
    unit: &'static str,
    range: RangeInclusive<u64>,
}

const fn number(variable: &'static str, unit: &'static str, range: RangeInclusive<u64>) -> Number {
    Number {
        variable,
        flag: None,
        unit,
        range,
    }
}

const DAY_SECS: u64 = 24 * 60 * 60;
const HOUR_MS: u64 = 60 * 60 * 1000;

const MAX_UPLOAD_MB: Number = Number {
    flag: Some("--max-upload-mb"),
    ..number("GUST_MAX_UPLOAD_MB", "MiB", 1..=65_536)
};
const MAX_UNPACKED_MB: Number = number("GUST_MAX_UNPACKED_MB", "MiB", 1..=1_048_576);
// Bodies are held in memory whole.
const MAX_REQUEST_MB: Number = number("GUST_MAX_REQUEST_MB", "MiB", 1..=4096);
// The workers read a limit of 0 as "unset", so 1 KiB is the least.
const LOG_LIMIT_KB: Number = number("GUST_LOG_LIMIT_KB", "KiB", 1..=65_536);
const SQLITE_CONNECTIONS: Number = number("GUST_SQLITE_CONNECTIONS", "connections", 1..=64);
// Each is a server process on PostgreSQL's side; its own `max_connections` is the real cap.
const DATABASE_CONNECTIONS: Number = number("GUST_DATABASE_CONNECTIONS", "connections", 1..=1000);

const WASM_POOL_INSTANCES: Number = number("GUST_WASM_POOL_INSTANCES", "instances", 1..=100_000);
const WASM_EPOCH_TICK_MS: Number = number("GUST_WASM_EPOCH_TICK_MS", "milliseconds", 1..=1000);
// Up to the largest linear memory a guest may have (4 GiB).
const WASM_KEEP_RESIDENT_KB: Number = number("GUST_WASM_KEEP_RESIDENT_KB", "KiB", 0..=4_194_304);
const WASM_TABLE_KEEP_RESIDENT_KB: Number =
    number("GUST_WASM_TABLE_KEEP_RESIDENT_KB", "KiB", 0..=65_536);
const WASM_STACK_KEEP_RESIDENT_KB: Number =
    number("GUST_WASM_STACK_KEEP_RESIDENT_KB", "KiB", 0..=65_536);
// 0: components stay loaded for as long as their functions are deployed.
const WASM_UNLOAD_AFTER_SECS: Number =
    number("GUST_WASM_UNLOAD_AFTER_SECS", "seconds", 0..=7 * DAY_SECS);

const IDLE_TIMEOUT_SECS: Number = number("GUST_IDLE_TIMEOUT_SECS", "seconds", 0..=7 * DAY_SECS);
const QUEUE_LIMIT: Number = number("GUST_QUEUE_LIMIT", "requests", 0..=1_000_000);
const QUEUE_WAIT_MS: Number = number("GUST_QUEUE_WAIT_MS", "milliseconds", 0..=HOUR_MS);
const STEM_CELLS: Number = number("GUST_STEM_CELLS", "interpreters", 0..=64);
const WORKER_START_TIMEOUT_SECS: Number =
    number("GUST_WORKER_START_TIMEOUT_SECS", "seconds", 1..=3600);
const BUILD_TIMEOUT_SECS: Number = number("GUST_BUILD_TIMEOUT_SECS", "seconds", 1..=DAY_SECS);
// A tmpfs of size 0 would have no limit at all.
const SANDBOX_TMP_MB: Number = number("GUST_SANDBOX_TMP_MB", "MiB", 1..=65_536);
const SANDBOX_PIDS: Number = number("GUST_SANDBOX_PIDS", "processes", 1..=65_536);
// A worker needs its standard streams and the descriptors of its protocol.
const SANDBOX_NOFILE: Number = number("GUST_SANDBOX_NOFILE", "open files", 16..=1_048_576);
// RLIMIT_FSIZE 0 kills a worker on its first write to any file.
const SANDBOX_FSIZE_MB: Number = number("GUST_SANDBOX_FSIZE_MB", "MiB", 1..=1_048_576);

const RETRY_BASE_MS: Number = number("GUST_RETRY_BASE_MS", "milliseconds", 1..=HOUR_MS);
const RETRY_MAX_SECS: Number = number("GUST_RETRY_MAX_SECS", "seconds", 1..=7 * DAY_SECS);
// 0: this server accepts and stores async executions but runs none.
const ASYNC_WORKERS: Number = number("GUST_ASYNC_WORKERS", "executions", 0..=65_536);
const QUEUE_MEMORY: Number = number("GUST_QUEUE_MEMORY", "executions", 100..=10_000_000);
// A node whose heartbeat is older than this is gone; it beats every third of it.
const LEASE_SECS: Number = number("GUST_LEASE_SECS", "seconds", 3..=3600);
const RETENTION_INTERVAL_SECS: Number =
    number("GUST_RETENTION_INTERVAL_SECS", "seconds", 1..=7 * DAY_SECS);
// Unset: no ceiling. At least room for the log and a batch of records beside some rows.
const MAX_DATA_MB: Number = number("GUST_MAX_DATA_MB", "MiB", 16..=16 * 1024 * 1024);
const UPLOAD_EXPIRY_SECS: Number = number("GUST_UPLOAD_EXPIRY_SECS", "seconds", 1..=30 * DAY_SECS);
// A signed URL is a credential on its own; a week is the longest one lives.
const SIGNED_URL_SECS: Number = number("GUST_SIGNED_URL_SECS", "seconds", 1..=7 * DAY_SECS);
const TOKEN_USE_FLUSH_SECS: Number = number("GUST_TOKEN_USE_FLUSH_SECS", "seconds", 1..=DAY_SECS);
// At most a minute: the store keeps a row per function and minute, and a longer wait would
// lose more than a minute to a crash.
const METRICS_FLUSH_SECS: Number = number("GUST_METRICS_FLUSH_SECS", "seconds", 1..=60);
const AUTH_FAILURE_BURST: Number = number("GUST_AUTH_FAILURE_BURST", "failures", 1..=1_000_000);
const AUTH_FAILURE_REFILL_MS: Number =
    number("GUST_AUTH_FAILURE_REFILL_MS", "milliseconds", 1..=HOUR_MS);

const MAX_CONNECTIONS: Number = number("GUST_MAX_CONNECTIONS", "connections", 1..=1_000_000);
const MAX_CONNECTIONS_PER_IP: Number =
    number("GUST_MAX_CONNECTIONS_PER_IP", "connections", 1..=1_000_000);
const HEADER_TIMEOUT_SECS: Number = number("GUST_HEADER_TIMEOUT_SECS", "seconds", 1..=3600);
const MAX_HEADERS: Number = number("GUST_MAX_HEADERS", "headers", 8..=10_000);
// hyper reads a request's head into a buffer of at least 8 KiB.
const MAX_HEADER_KB: Number = number("GUST_MAX_HEADER_KB", "KiB", 8..=16_384);

const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

impl Settings {
    /// The settings given by `flags` and this process's variables.
    pub fn read(flags: ServeFlags) -> anyhow::Result<Settings> {
        Self::parse(flags, &Environment::of_process())
    }

    fn parse(flags: ServeFlags, env: &Environment) -> anyhow::Result<Settings> {
        for (old, new) in RENAMED {
            if env.vars.contains_key(old) {
                bail!("{old} is now called {new}; set that instead");
            }
        }
        let mut reader = Reader::new(env);
        let settings = reader.settings(flags)?;
        let unknown_variables = env
            .vars
            .keys()
            .filter(|name| name.starts_with("GUST_"))
            .filter(|name| !reader.read.contains(&name.as_str()))
            .filter(|name| !NOT_SETTINGS.contains(&name.as_str()))
            .cloned()
            .collect();
        Ok(Settings {
            unknown_variables,
            ..settings
        })
    }
}

/// Reads settings from flags and variables, remembering which variables it read.
struct Reader<'a> {
    env: &'a Environment,
    read: Vec<&'static str>,
}

/// A value as given, and where: `--flag=value` or `VARIABLE=value`.
struct Given {
    source: String,
    value: OsString,
}

impl Given {
    fn text(&self, expected: &str) -> anyhow::Result<&str> {
        match self.value.to_str() {
            Some(text) => Ok(text.trim()),
            None => bail!("{} is not valid UTF-8: expected {expected}", self.source),
        }
    }

    fn invalid(&self, expected: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{}={}: expected {expected}",
            self.source,
            self.value.to_string_lossy()
        )
    }
}

/// A listen address: HOST:PORT.
fn address(given: &Given) -> anyhow::Result<String> {
    let expected = format!("HOST:PORT, port 0 for any free one (e.g. {DEFAULT_LISTEN})");
    let address = given.text(&expected)?;
    match address.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(address.to_string())
        }
        _ => Err(given.invalid(&expected)),
    }
}

impl<'a> Reader<'a> {
    fn new(env: &'a Environment) -> Self {
        Self {
            env,
            read: Vec::new(),
        }
    }

    /// The flag's value when given, else the variable's.
    fn given(
        &mut self,
        variable: &'static str,
        flag: Option<(&str, Option<OsString>)>,
    ) -> Option<Given> {
        self.read.push(variable);
        if let Some((name, Some(value))) = flag {
            return Some(Given {
                source: name.to_string(),
                value,
            });
        }
        let value = self.env.vars.get(variable)?;
        Some(Given {
            source: variable.to_string(),
            value: value.clone(),
        })
    }

    fn number(&mut self, spec: &Number, default: u64) -> anyhow::Result<u64> {
        self.number_or_flag(spec, None, default)
    }

    /// `flag_value` is the value of `spec.flag`, when the command line gave it.
    fn number_or_flag(
        &mut self,
        spec: &Number,
        flag_value: Option<String>,
        default: u64,
    ) -> anyhow::Result<u64> {
        let flag = spec.flag.map(|name| (name, flag_value.map(OsString::from)));
        let Some(given) = self.given(spec.variable, flag) else {
            return Ok(default);
        };
        let expected = format!(
            "a whole number of {} from {} to {} (e.g. {default})",
            spec.unit,
            spec.range.start(),
            spec.range.end()
        );
        let number: u64 = given
            .text(&expected)?
            .parse()
            .map_err(|_| given.invalid(&expected))?;
        if !spec.range.contains(&number) {
            return Err(given.invalid(&expected));
        }
        Ok(number)
    }

    fn millis(&mut self, spec: &Number, default: Duration) -> anyhow::Result<Duration> {
        let millis = self.number(spec, default.as_millis().try_into()?)?;
        Ok(Duration::from_millis(millis))
    }

    fn secs(&mut self, spec: &Number, default: Duration) -> anyhow::Result<Duration> {
        Ok(Duration::from_secs(self.number(spec, default.as_secs())?))
    }

    /// A size given in KiB, in bytes.
    fn kib(&mut self, spec: &Number, default_bytes: usize) -> anyhow::Result<usize> {
        let kib = self.number(spec, default_bytes as u64 / KIB)?;
        Ok(usize::try_from(kib * KIB)?)
    }

    /// A size given in MiB, in bytes.
    fn mib(&mut self, spec: &Number, default_bytes: u64) -> anyhow::Result<u64> {
        Ok(self.number(spec, default_bytes / MIB)? * MIB)
    }

    /// A count that fits `T` (every range above does).
    fn count<T: TryFrom<u64> + Into<u64> + Copy>(
        &mut self,
        spec: &Number,
        default: T,
    ) -> anyhow::Result<T>
    where
        T::Error: std::error::Error + Send + Sync + 'static,
    {
        Ok(T::try_from(self.number(spec, default.into())?)?)
    }

    fn settings(&mut self, flags: ServeFlags) -> anyhow::Result<Settings> {
        let listen = self.listen(flags.listen)?;
        let tls = self.tls(flags.tls_cert, flags.tls_key)?;
        let plain_listen = self.plain_listen(flags.plain_listen, tls.is_some())?;
        let limits = self.limits()?;
        let (log_filter, log_format) = self.log(flags.log_format)?;
        let data_dir = self.data_dir(flags.data_dir)?;
        let defaults = ServerConfig::new(data_dir.clone());
        // The server records, and the process runtime keeps, the same share of output.
        let log_limit = self.kib(&LOG_LIMIT_KB, defaults.log_limit)?;
        let server = ServerConfig {
            max_upload_bytes: self.number_or_flag(
                &MAX_UPLOAD_MB,
                flags.max_upload_mb,
                defaults.max_upload_bytes / MIB,
            )? * MIB,
            max_unpacked_bytes: self.mib(&MAX_UNPACKED_MB, defaults.max_unpacked_bytes)?,
            max_request_bytes: usize::try_from(
                self.mib(&MAX_REQUEST_MB, defaults.max_request_bytes as u64)?,
            )?,
            log_limit,
            public_url: self.public_url(flags.public_url)?,
            functions_domain: self.functions_domain(flags.functions_domain)?,
            sqlite_connections: self.count(&SQLITE_CONNECTIONS, defaults.sqlite_connections)?,
            database_url: self.database_url(flags.database_url)?,
            blob_url: self.blob_url(flags.blob_url)?,
            database_connections: self
                .count(&DATABASE_CONNECTIONS, defaults.database_connections)?,
            signed_url_ttl: self.secs(&SIGNED_URL_SECS, defaults.signed_url_ttl)?,
            master_key_file: self.master_key_file(flags.master_key_file)?,
            node_id: self.node_id(flags.node_id)?,
            token_use_flush: self.secs(&TOKEN_USE_FLUSH_SECS, defaults.token_use_flush)?,
            metrics_flush: self.secs(&METRICS_FLUSH_SECS, defaults.metrics_flush)?,
            auth_failures: gust_engine::auth::FailureLimits {
                burst: self.count(&AUTH_FAILURE_BURST, defaults.auth_failures.burst)?,
                refill: self.millis(&AUTH_FAILURE_REFILL_MS, defaults.auth_failures.refill)?,
                max_addresses: defaults.auth_failures.max_addresses,
            },
            wasm: self.wasm(&defaults.wasm)?,
            process: self.process(&defaults.process, log_limit)?,
            jobs: self.jobs(&defaults.jobs)?,
            data_dir,
        };
        Ok(Settings {
            listen,
            plain_listen,
            tls,
            limits,
            log_filter,
            log_format,
            server,
            unknown_variables: Vec::new(),
        })
    }

    fn wasm(&mut self, defaults: &WasmConfig) -> anyhow::Result<WasmConfig> {
        Ok(WasmConfig {
            artifacts_dir: defaults.artifacts_dir.clone(),
            pool_instances: self.count(&WASM_POOL_INSTANCES, defaults.pool_instances)?,
            max_memory_mb: defaults.max_memory_mb,
            epoch_tick: self.millis(&WASM_EPOCH_TICK_MS, defaults.epoch_tick)?,
            keep_resident: self.kib(&WASM_KEEP_RESIDENT_KB, defaults.keep_resident)?,
            table_keep_resident: self
                .kib(&WASM_TABLE_KEEP_RESIDENT_KB, defaults.table_keep_resident)?,
            stack_keep_resident: self
                .kib(&WASM_STACK_KEEP_RESIDENT_KB, defaults.stack_keep_resident)?,
            unload_after: Some(self.secs(
                &WASM_UNLOAD_AFTER_SECS,
                defaults.unload_after.unwrap_or_default(),
            )?)
            .filter(|after| !after.is_zero()),
        })
    }

    fn process(
        &mut self,
        defaults: &ProcessConfig,
        log_limit: usize,
    ) -> anyhow::Result<ProcessConfig> {
        Ok(ProcessConfig {
            data_dir: defaults.data_dir.clone(),
            idle_timeout: self.secs(&IDLE_TIMEOUT_SECS, defaults.idle_timeout)?,
            queue_limit: usize::try_from(self.number(&QUEUE_LIMIT, defaults.queue_limit as u64)?)?,
            queue_wait: self.millis(&QUEUE_WAIT_MS, defaults.queue_wait)?,
            log_limit,
            stem_cells: usize::try_from(self.number(&STEM_CELLS, defaults.stem_cells as u64)?)?,
            start_timeout: self.secs(&WORKER_START_TIMEOUT_SECS, defaults.start_timeout)?,
            build_timeout: self.secs(&BUILD_TIMEOUT_SECS, defaults.build_timeout)?,
            tmp_mb: self.number(&SANDBOX_TMP_MB, defaults.tmp_mb)?,
            pids: self.count(&SANDBOX_PIDS, defaults.pids)?,
            open_files: self.number(&SANDBOX_NOFILE, defaults.open_files)?,
            file_size_mb: self.number(&SANDBOX_FSIZE_MB, defaults.file_size_mb)?,
            python: self.interpreter("GUST_PYTHON311", "python3.11")?,
            node: self.interpreter("GUST_NODE20", "node 20")?,
            spawner: defaults.spawner.clone(),
        })
    }

    fn jobs(&mut self, defaults: &JobsConfig) -> anyhow::Result<JobsConfig> {
        Ok(JobsConfig {
            retry_base: self.millis(&RETRY_BASE_MS, defaults.retry_base)?,
            retry_cap: self.secs(&RETRY_MAX_SECS, defaults.retry_cap)?,
            workers: usize::try_from(self.number(&ASYNC_WORKERS, defaults.workers as u64)?)?,
            memory_queue: usize::try_from(
                self.number(&QUEUE_MEMORY, defaults.memory_queue as u64)?,
            )?,
            retention_interval: self.secs(&RETENTION_INTERVAL_SECS, defaults.retention_interval)?,
            upload_expiry: self.secs(&UPLOAD_EXPIRY_SECS, defaults.upload_expiry)?,
            max_data_bytes: Some(self.number(&MAX_DATA_MB, 0)?)
                .filter(|mb| *mb > 0)
                .map(|mb| mb * 1024 * 1024),
            lease: self.secs(&LEASE_SECS, defaults.lease)?,
        })
    }

    fn listen(&mut self, flag: Option<String>) -> anyhow::Result<String> {
        let flag = Some(("--listen", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_LISTEN", flag) else {
            return Ok(DEFAULT_LISTEN.into());
        };
        address(&given)
    }

    fn plain_listen(&mut self, flag: Option<String>, tls: bool) -> anyhow::Result<Option<String>> {
        let flag = Some(("--plain-listen", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_PLAIN_LISTEN", flag) else {
            return Ok(None);
        };
        if !tls {
            bail!(
                "{} serves plain HTTP beside HTTPS: give --tls-cert and --tls-key too \
                 (without TLS, --listen already serves plain HTTP)",
                given.source
            );
        }
        address(&given).map(Some)
    }

    /// Both files or neither.
    fn tls(
        &mut self,
        cert: Option<OsString>,
        key: Option<OsString>,
    ) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
        let cert = self.given("GUST_TLS_CERT", Some(("--tls-cert", cert)));
        let key = self.given("GUST_TLS_KEY", Some(("--tls-key", key)));
        match (cert, key) {
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => {
                for given in [&cert, &key] {
                    if given.value.is_empty() {
                        return Err(given.invalid("a PEM file"));
                    }
                }
                Ok(Some((cert.value.into(), key.value.into())))
            }
            (Some(one), None) | (None, Some(one)) => bail!(
                "{} needs its pair: HTTPS takes both --tls-cert and --tls-key \
                 (GUST_TLS_CERT and GUST_TLS_KEY)",
                one.source
            ),
        }
    }

    fn limits(&mut self) -> anyhow::Result<gust_api::Limits> {
        let defaults = gust_api::Limits::default();
        Ok(gust_api::Limits {
            max_connections: usize::try_from(
                self.number(&MAX_CONNECTIONS, defaults.max_connections as u64)?,
            )?,
            max_connections_per_ip: usize::try_from(self.number(
                &MAX_CONNECTIONS_PER_IP,
                defaults.max_connections_per_ip as u64,
            )?)?,
            header_read_timeout: self.secs(&HEADER_TIMEOUT_SECS, defaults.header_read_timeout)?,
            max_headers: usize::try_from(self.number(&MAX_HEADERS, defaults.max_headers as u64)?)?,
            max_header_bytes: self.kib(&MAX_HEADER_KB, defaults.max_header_bytes)?,
        })
    }

    fn master_key_file(&mut self, flag: Option<OsString>) -> anyhow::Result<Option<PathBuf>> {
        match self.given("GUST_MASTER_KEY_FILE", Some(("--master-key-file", flag))) {
            None => Ok(None),
            Some(given) if given.value.is_empty() => Err(given.invalid("a file of master keys")),
            Some(given) => Ok(Some(given.value.into())),
        }
    }

    fn data_dir(&mut self, flag: Option<OsString>) -> anyhow::Result<PathBuf> {
        match self.given("GUST_DATA_DIR", Some(("--data-dir", flag))) {
            None => Ok(DEFAULT_DATA_DIR.into()),
            Some(given) if given.value.is_empty() => {
                Err(given.invalid(&format!("a directory (e.g. {DEFAULT_DATA_DIR})")))
            }
            Some(given) => Ok(given.value.into()),
        }
    }

    fn database_url(&mut self, flag: Option<String>) -> anyhow::Result<Option<String>> {
        let flag = Some(("--database-url", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_DATABASE_URL", flag) else {
            return Ok(None);
        };
        let expected = "a postgres:// URL (e.g. postgres://gust:password@db:5432/gust)";
        let url = given.text(expected)?;
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"));
        match rest {
            Some(rest) if !rest.is_empty() => Ok(Some(url.to_string())),
            // The value may hold a password: the error does not repeat it.
            _ => bail!("{}: expected {expected}", given.source),
        }
    }

    fn blob_url(&mut self, flag: Option<String>) -> anyhow::Result<Option<BlobUrl>> {
        let flag = Some(("--blob-url", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_BLOB_URL", flag) else {
            return Ok(None);
        };
        let expected = "s3://BUCKET/PREFIX?endpoint=URL or file:///DIR";
        let text = given.text(expected)?;
        match text.parse::<BlobUrl>() {
            Ok(url) => Ok(Some(url)),
            Err(e) => bail!("{}: {e}", given.source),
        }
    }

    fn public_url(&mut self, flag: Option<String>) -> anyhow::Result<Option<String>> {
        let flag = Some(("--public-url", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_PUBLIC_URL", flag) else {
            return Ok(None);
        };
        let expected = "an http:// or https:// URL (e.g. https://fn.example.com)";
        let url = given.text(expected)?;
        let host = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        match host {
            Some(host) if !host.trim_end_matches('/').is_empty() => Ok(Some(url.to_string())),
            _ => Err(given.invalid(expected)),
        }
    }

    fn node_id(&mut self, flag: Option<String>) -> anyhow::Result<Option<String>> {
        let flag = Some(("--node-id", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_NODE_ID", flag) else {
            return Ok(None);
        };
        let expected = "1 to 64 letters, digits, '.', '_' and '-'";
        let text = given.text(expected)?;
        if gust_engine::node_id_is_valid(text) {
            Ok(Some(text.to_string()))
        } else {
            Err(given.invalid(expected))
        }
    }

    fn functions_domain(&mut self, flag: Option<String>) -> anyhow::Result<String> {
        let flag = Some(("--functions-domain", flag.map(OsString::from)));
        let Some(given) = self.given("GUST_FUNCTIONS_DOMAIN", flag) else {
            return Ok(gust_engine::DEFAULT_FUNCTIONS_DOMAIN.into());
        };
        let expected = format!(
            "a host name, dot-separated labels of letters, digits and '-' (e.g. {})",
            gust_engine::DEFAULT_FUNCTIONS_DOMAIN
        );
        let text = given.text(&expected)?;
        gust_core::domain::hostname("functions_domain", text)
            .map_err(|e| given.invalid(&format!("{expected}: {}", e.message)))
    }

    fn log(&mut self, format_flag: Option<String>) -> anyhow::Result<(EnvFilter, LogFormat)> {
        let expected_filter = format!("tracing filter directives (e.g. {DEFAULT_LOG_FILTER})");
        let filter_given = match self.given("GUST_LOG", None) {
            Some(given) => Some(given),
            // The usual variable of Rust programs, when the server's own is not set.
            None => self.given(RUST_LOG, None),
        };
        let filter = match filter_given {
            None => EnvFilter::new(DEFAULT_LOG_FILTER),
            Some(given) => EnvFilter::try_new(given.text(&expected_filter)?)
                .map_err(|e| given.invalid(&format!("{expected_filter}: {e}")))?,
        };
        let flag = Some(("--log-format", format_flag.map(OsString::from)));
        let format = match self.given("GUST_LOG_FORMAT", flag) {
            None => LogFormat::Text,
            Some(given) => match given.text("text or json")? {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(given.invalid("text or json")),
            },
        };
        Ok((filter, format))
    }

    /// An interpreter named explicitly must exist: searching elsewhere instead would hide the
    /// mistake.
    fn interpreter(
        &mut self,
        variable: &'static str,
        what: &str,
    ) -> anyhow::Result<Option<PathBuf>> {
        let Some(given) = self.given(variable, None) else {
            return Ok(None);
        };
        let path = PathBuf::from(&given.value);
        if !path.is_file() {
            return Err(given.invalid(&format!("the path of a {what} executable (no such file)")));
        }
        Ok(Some(path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment {
            vars: pairs
                .iter()
                .map(|(name, value)| (name.to_string(), OsString::from(value)))
                .collect(),
        }
    }

    fn parse(pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        Settings::parse(ServeFlags::default(), &env(pairs))
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        parse(pairs).expect_err("an invalid setting").to_string()
    }

    #[test]
    fn nothing_set_gives_the_documented_defaults() {
        let settings = parse(&[]).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:8080");
        assert_eq!(settings.log_format, LogFormat::Text);
        let server = &settings.server;
        assert_eq!(server.data_dir, PathBuf::from("./gust-data"));
        assert_eq!(server.max_upload_bytes, 100 * MIB);
        assert_eq!(server.max_unpacked_bytes, 1024 * MIB);
        assert_eq!(server.max_request_bytes, 16 * 1024 * 1024);
        assert_eq!(server.log_limit, 64 * 1024);
        assert_eq!(server.public_url, None);
        assert_eq!(server.functions_domain, "functions.localhost");
        assert_eq!(server.sqlite_connections, 4);
        assert_eq!(server.database_url, None);
        assert_eq!(server.database_connections, 8);
        assert_eq!(server.wasm.pool_instances, 1000);
        assert_eq!(server.wasm.epoch_tick, Duration::from_millis(10));
        assert_eq!(
            server.wasm.artifacts_dir,
            PathBuf::from("./gust-data/artifacts")
        );
        assert_eq!(server.process.queue_limit, 100);
        assert_eq!(server.process.queue_wait, Duration::from_secs(10));
        assert_eq!(server.process.log_limit, 64 * 1024);
        assert_eq!(server.process.data_dir, PathBuf::from("./gust-data"));
        assert_eq!(server.jobs.retry_cap, Duration::from_secs(300));
        assert_eq!(server.jobs.memory_queue, 100_000);
        assert_eq!(server.jobs.upload_expiry, Duration::from_secs(24 * 60 * 60));
        assert_eq!(server.signed_url_ttl, Duration::from_secs(60 * 60));
        assert!(settings.unknown_variables.is_empty());
    }

    #[test]
    fn each_kind_of_value_lands_in_its_config_in_its_unit() {
        let settings = parse(&[
            ("GUST_DATA_DIR", "/srv/gust"),
            ("GUST_LISTEN", "[::1]:0"),
            ("GUST_MAX_REQUEST_MB", "2"),
            ("GUST_LOG_LIMIT_KB", "8"),
            ("GUST_WASM_EPOCH_TICK_MS", "5"),
            ("GUST_WASM_POOL_INSTANCES", "10"),
            ("GUST_QUEUE_WAIT_MS", " 250 "),
            ("GUST_IDLE_TIMEOUT_SECS", "0"),
            ("GUST_SANDBOX_PIDS", "64"),
            ("GUST_RETRY_MAX_SECS", "7"),
            ("GUST_UPLOAD_EXPIRY_SECS", "90"),
            ("GUST_SIGNED_URL_SECS", "30"),
            ("GUST_ASYNC_WORKERS", "0"),
            ("GUST_SQLITE_CONNECTIONS", "2"),
            ("GUST_DATABASE_URL", "postgresql://gust@db/gust"),
            ("GUST_DATABASE_CONNECTIONS", "3"),
            ("GUST_LOG_FORMAT", "json"),
            ("GUST_PUBLIC_URL", "https://fn.example.com/"),
            ("GUST_FUNCTIONS_DOMAIN", "Fn.Example.COM."),
        ])
        .unwrap();
        let server = &settings.server;
        assert_eq!(settings.listen, "[::1]:0");
        assert_eq!(settings.log_format, LogFormat::Json);
        assert_eq!(
            server.wasm.artifacts_dir,
            PathBuf::from("/srv/gust/artifacts")
        );
        assert_eq!(server.process.data_dir, PathBuf::from("/srv/gust"));
        assert_eq!(server.max_request_bytes, 2 * 1024 * 1024);
        assert_eq!(server.log_limit, 8 * 1024);
        assert_eq!(server.process.log_limit, 8 * 1024);
        assert_eq!(server.wasm.epoch_tick, Duration::from_millis(5));
        assert_eq!(server.wasm.pool_instances, 10);
        assert_eq!(server.process.queue_wait, Duration::from_millis(250));
        assert_eq!(server.process.idle_timeout, Duration::ZERO);
        assert_eq!(server.process.pids, 64);
        assert_eq!(server.jobs.retry_cap, Duration::from_secs(7));
        assert_eq!(server.jobs.upload_expiry, Duration::from_secs(90));
        assert_eq!(server.signed_url_ttl, Duration::from_secs(30));
        assert_eq!(server.jobs.workers, 0);
        assert_eq!(server.sqlite_connections, 2);
        assert_eq!(
            server.database_url.as_deref(),
            Some("postgresql://gust@db/gust")
        );
        assert_eq!(server.database_connections, 3);
        assert_eq!(
            server.public_url.as_deref(),
            Some("https://fn.example.com/")
        );
        assert_eq!(server.functions_domain, "fn.example.com");
    }

    #[test]
    fn a_malformed_number_names_the_variable_and_what_it_accepts() {
        assert_eq!(
            error(&[("GUST_QUEUE_LIMIT", "abc")]),
            "GUST_QUEUE_LIMIT=abc: expected a whole number of requests from 0 to 1000000 (e.g. 100)"
        );
        assert_eq!(
            error(&[("GUST_RETRY_BASE_MS", "1.5")]),
            "GUST_RETRY_BASE_MS=1.5: expected a whole number of milliseconds from 1 to 3600000 \
             (e.g. 1000)"
        );
        assert!(error(&[("GUST_SANDBOX_TMP_MB", "")]).starts_with("GUST_SANDBOX_TMP_MB=: "));
        assert!(error(&[("GUST_STEM_CELLS", "-1")]).starts_with("GUST_STEM_CELLS=-1: "));
    }

    #[test]
    fn a_value_out_of_range_is_refused_with_the_range() {
        assert_eq!(
            error(&[("GUST_WASM_EPOCH_TICK_MS", "0")]),
            "GUST_WASM_EPOCH_TICK_MS=0: expected a whole number of milliseconds from 1 to 1000 \
             (e.g. 10)"
        );
        assert_eq!(
            error(&[("GUST_QUEUE_MEMORY", "99")]),
            "GUST_QUEUE_MEMORY=99: expected a whole number of executions from 100 to 10000000 \
             (e.g. 100000)"
        );
        assert!(error(&[("GUST_SQLITE_CONNECTIONS", "0")]).contains("from 1 to 64"));
        assert!(error(&[("GUST_LOG_LIMIT_KB", "0")]).contains("from 1 to 65536"));
        assert!(error(&[("GUST_MAX_UPLOAD_MB", "99999999999999999999")]).contains("from 1 to"));
    }

    #[test]
    fn a_flag_wins_over_its_variable_and_errors_name_the_flag() {
        let flags = ServeFlags {
            max_upload_mb: Some("5".into()),
            listen: Some("0.0.0.0:9000".into()),
            ..ServeFlags::default()
        };
        let both = env(&[("GUST_MAX_UPLOAD_MB", "7"), ("GUST_LISTEN", "127.0.0.1:1")]);
        let settings = Settings::parse(flags, &both).unwrap();
        assert_eq!(settings.server.max_upload_bytes, 5 * MIB);
        assert_eq!(settings.listen, "0.0.0.0:9000");

        let flags = ServeFlags {
            max_upload_mb: Some("0".into()),
            ..ServeFlags::default()
        };
        let message = Settings::parse(flags, &both).unwrap_err().to_string();
        assert!(message.starts_with("--max-upload-mb=0: expected a whole number of MiB from 1"));

        let from_variable = parse(&[("GUST_MAX_UPLOAD_MB", "7")]).unwrap();
        assert_eq!(from_variable.server.max_upload_bytes, 7 * MIB);
    }

    #[test]
    fn blob_urls_are_checked_naming_the_variable() {
        assert!(
            error(&[("GUST_BLOB_URL", "gs://bucket/x")])
                .starts_with("GUST_BLOB_URL: unknown scheme `gs` in `gs://bucket/x`"),
        );
        assert!(
            error(&[("GUST_BLOB_URL", "s3:///x?endpoint=http://minio:9000")])
                .contains("names no bucket")
        );
    }

    #[test]
    fn text_settings_are_checked_too() {
        assert_eq!(
            error(&[("GUST_LISTEN", "8080")]),
            "GUST_LISTEN=8080: expected HOST:PORT, port 0 for any free one (e.g. 127.0.0.1:8080)"
        );
        assert!(error(&[("GUST_LISTEN", "localhost:http")]).starts_with("GUST_LISTEN="));
        assert!(error(&[("GUST_PUBLIC_URL", "fn.example.com")]).starts_with("GUST_PUBLIC_URL="));
        for bad in [
            "fn_example.com",
            "",
            "-fn.example.com",
            "10.0.0.1",
            "fn..example",
        ] {
            assert!(
                error(&[("GUST_FUNCTIONS_DOMAIN", bad)]).starts_with(&format!(
                    "GUST_FUNCTIONS_DOMAIN={bad}: expected a host name"
                )),
                "{bad}"
            );
        }
        assert_eq!(
            error(&[("GUST_LOG_FORMAT", "xml")]),
            "GUST_LOG_FORMAT=xml: expected text or json"
        );
        assert!(error(&[("GUST_LOG", "info,sqlx=loud")]).starts_with("GUST_LOG=info,sqlx=loud: "));
        assert!(error(&[("RUST_LOG", "=")]).starts_with("RUST_LOG==: "));
        assert!(error(&[("GUST_DATA_DIR", "")]).starts_with("GUST_DATA_DIR=: "));
        assert_eq!(
            error(&[("GUST_DATABASE_URL", "mysql://root:hunter2@db/gust")]),
            "GUST_DATABASE_URL: expected a postgres:// URL \
             (e.g. postgres://gust:password@db:5432/gust)"
        );
        assert!(
            error(&[("GUST_PYTHON311", "/no/such/python3.11")]).starts_with(
                "GUST_PYTHON311=/no/such/python3.11: expected the path of a python3.11"
            )
        );
    }

    #[test]
    fn renamed_variables_are_refused_with_their_new_name() {
        assert_eq!(
            error(&[("GUST_RETRY_MAX_S", "5")]),
            "GUST_RETRY_MAX_S is now called GUST_RETRY_MAX_SECS; set that instead"
        );
        assert!(
            error(&[("GUST_RETENTION_INTERVAL_S", "1")]).contains("GUST_RETENTION_INTERVAL_SECS")
        );
    }

    #[test]
    fn unknown_variables_are_reported_and_others_are_not() {
        let settings = parse(&[
            ("GUST_QUEUE_LIMT", "5"),
            ("GUST_URL", "http://x"),
            ("GUST_SANDBOX_SPAWNER", "3"),
            ("GUST_QUEUE_LIMIT", "5"),
        ])
        .unwrap();
        assert_eq!(settings.unknown_variables, ["GUST_QUEUE_LIMT"]);
    }

    /// Every variable the server reads has its row in README.md's Configuration table.
    #[test]
    fn every_variable_is_documented() {
        let readme = include_str!("../../../README.md");
        let section = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|rest| rest.split("\n## ").next())
            .expect("a Configuration section");
        let nothing_set = Environment::default();
        let mut reader = Reader::new(&nothing_set);
        reader.settings(ServeFlags::default()).unwrap();
        for variable in reader.read {
            assert!(
                section.contains(&format!("`{variable}`")),
                "{variable} is missing from README.md's Configuration"
            );
        }
    }
}
