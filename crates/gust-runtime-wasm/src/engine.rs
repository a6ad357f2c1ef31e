//! The wasmtime engine, set up once per server: pooling allocator (with a probe that shrinks
//! the pool where the address space is limited), epoch ticker for timeouts, and a linker
//! carrying WASI and wasi:http. Components are compiled once, at build time, and the compiled
//! artifact is kept on disk so a restart loads it instead of compiling again.

#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::cache::{Cache, Slot, start_unloader};
use crate::guest::GuestState;
use crate::{WasmError, WasmResult};

/// Engine settings. [`WasmConfig::new`] holds the defaults; `gust serve` sets each knob from
/// its `GUST_WASM_*` variable.
#[derive(Debug, Clone)]
pub struct WasmConfig {
    /// Where compiled artifacts are cached (`DATA_DIR/artifacts`).
    pub artifacts_dir: PathBuf,
    /// Instances that may run at once (`GUST_WASM_POOL_INSTANCES`). 1000 covers 64 busy
    /// connections many times over; each slot reserves address space, not memory.
    pub pool_instances: u32,
    /// Largest linear memory any guest may have, in MiB: the top of `memory_mb`'s range.
    pub max_memory_mb: u32,
    /// Epoch tick (`GUST_WASM_EPOCH_TICK_MS`): the granularity of timeouts, and how often a busy
    /// guest yields its thread to other requests. 10 ms keeps both tight at negligible cost.
    pub epoch_tick: Duration,
    /// Bytes of each memory slot reset in place on reuse instead of returned to the kernel
    /// (`GUST_WASM_KEEP_RESIDENT_KB`). Returning pages costs a madvise and, with two or more
    /// threads, a TLB-shootdown interrupt per instance; resetting in place costs only the pages
    /// the guest dirtied where the kernel can report them (PAGEMAP_SCAN, Linux 6.7+). So: 4 MiB
    /// there (covers a Rust guest's stack and heap; +15-30% instances/s measured with
    /// `examples/invoke_loop`), 64 KiB on older kernels, where the reset is a plain memset.
    pub keep_resident: usize,
    /// Bytes of each table slot reset in place (`GUST_WASM_TABLE_KEEP_RESIDENT_KB`).
    pub table_keep_resident: usize,
    /// Bytes of each async stack kept mapped between requests (`GUST_WASM_STACK_KEEP_RESIDENT_KB`).
    pub stack_keep_resident: usize,
    /// A component no request has used for this long is unloaded, its next request loading it
    /// again from the artifact (`GUST_WASM_UNLOAD_AFTER_SECS`; `None`: never).
    pub unload_after: Option<Duration>,
}

impl WasmConfig {
    /// The defaults, caching artifacts in `artifacts_dir`.
    pub fn new(artifacts_dir: PathBuf) -> Self {
        Self {
            artifacts_dir,
            pool_instances: 1000,
            // The top of a function's `memory_mb` range: per-function limits sit below it.
            max_memory_mb: 4096,
            epoch_tick: Duration::from_millis(10),
            keep_resident: default_keep_resident_kb() * 1024,
            table_keep_resident: 64 * 1024,
            stack_keep_resident: 64 * 1024,
            unload_after: Some(Duration::from_secs(300)),
        }
    }
}

/// 4 MiB where the kernel reports dirty pages (Linux 6.7+), else 64 KiB; see `keep_resident`.
fn default_keep_resident_kb() -> usize {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (6, 7) { 4096 } else { 64 }
}

/// The server's WebAssembly engine. Cheap to clone.
#[derive(Clone)]
pub struct WasmRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    linker: Linker<GuestState>,
    config: WasmConfig,
    pooling: bool,
    cache: Arc<Cache>,
}

/// A component ready to serve requests: instantiation is pre-resolved, so a request only pays
/// for a fresh instance.
#[derive(Clone)]
pub struct WasmFunction {
    pub(crate) pre: ProxyPre<GuestState>,
}

/// A function's hold on its component, loaded or not (see [`crate::cache`]).
#[derive(Clone)]
pub struct ComponentRef {
    pub(crate) slot: Arc<Slot>,
    pub(crate) runtime: WasmRuntime,
}

impl ComponentRef {
    /// Load it now, if it is not (blocking: call from a blocking thread).
    pub fn load(&self) -> WasmResult<()> {
        self.slot.load(&self.runtime).map(drop)
    }

    pub fn is_loaded(&self) -> bool {
        self.slot.is_loaded()
    }
}

impl WasmRuntime {
    pub fn new(config: WasmConfig) -> WasmResult<Self> {
        std::fs::create_dir_all(&config.artifacts_dir).map_err(|source| WasmError::Io {
            context: format!("creating {}", config.artifacts_dir.display()),
            source,
        })?;
        let (engine, pooling) = build_engine(&config)?;
        start_epoch_ticker(&engine, config.epoch_tick);
        let mut linker = Linker::new(&engine);
        // Rust's std on wasm32-wasip2 imports wasi:cli (environment, stdio, exit) besides the
        // proxy world, as `wasmtime serve -S cli` allows; link all of WASI p2 plus wasi:http.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(WasmError::engine)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(WasmError::engine)?;
        let cache = Arc::new(Cache::new());
        if let Some(idle) = config.unload_after {
            start_unloader(&cache, idle);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                engine,
                linker,
                config,
                pooling,
                cache,
            }),
        })
    }

    /// The component whose bytes have this sha256 (`source` is where they are, should its
    /// artifact need compiling again): the one already held by other functions, else a new
    /// one, loaded by [`ComponentRef::load`] or by its first request.
    pub fn component(&self, sha256: &str, source: PathBuf) -> ComponentRef {
        ComponentRef {
            slot: self.inner.cache.slot(sha256, source),
            runtime: self.clone(),
        }
    }

    /// Components loaded now, shared ones counted once (a gauge).
    pub fn components_loaded(&self) -> Arc<AtomicI64> {
        self.inner.cache.loaded.clone()
    }

    /// Unload every component unused for `idle` now, as the unloader does on its own; how many.
    pub fn unload_idle(&self, idle: Duration) -> usize {
        self.inner.cache.unload_idle(idle)
    }

    /// Whether the pooling allocator is in use (false: the host refused its reservation).
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }

    pub fn version(&self) -> &'static str {
        "wasmtime 48"
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The cached artifact for the component with this digest.
    pub fn artifact_path(&self, sha256: &str) -> PathBuf {
        self.inner
            .config
            .artifacts_dir
            .join(format!("{sha256}.cwasm"))
    }

    /// Whether a compiled artifact for this digest is on disk (it may still be stale: loading
    /// it tells, and compiles again if so).
    pub fn has_artifact(&self, sha256: &str) -> bool {
        self.artifact_path(sha256).is_file()
    }

    /// Validate `wasm` as a wasi:http proxy component, compile it, and cache the artifact under
    /// `sha256`. CPU-heavy: call from a blocking thread. Returns a line for the build log.
    pub fn precompile(&self, wasm: &[u8], sha256: &str) -> WasmResult<String> {
        check_is_component(wasm)?;
        let started = std::time::Instant::now();
        let component = Component::new(&self.inner.engine, wasm)
            .map_err(|e| WasmError::Invalid(format!("the component does not compile: {e:#}")))?;
        self.prepare(&component)?;
        let artifact = component.serialize().map_err(WasmError::engine)?;
        let path = self.artifact_path(sha256);
        let tmp = path.with_extension("cwasm.tmp");
        std::fs::write(&tmp, &artifact)
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|source| WasmError::Io {
                context: format!("writing {}", path.display()),
                source,
            })?;
        Ok(format!(
            "compiled {} KiB of WebAssembly to {} KiB of machine code in {} ms",
            wasm.len() / 1024,
            artifact.len() / 1024,
            started.elapsed().as_millis()
        ))
    }

    /// Load the cached artifact for `sha256`. Returns `Ok(None)` when there is none or it was
    /// made by another engine version (the caller recompiles from the source).
    pub(crate) fn load(&self, sha256: &str) -> WasmResult<Option<WasmFunction>> {
        let path = self.artifact_path(sha256);
        if !path.exists() {
            return Ok(None);
        }
        // SAFETY: artifacts are written only by `precompile` into the server's own data dir,
        // never taken from users; wasmtime still checks that the artifact matches this engine
        // (version and settings) and refuses it otherwise, which we treat as a cache miss.
        let component = match unsafe { Component::deserialize_file(&self.inner.engine, &path) } {
            Ok(component) => component,
            Err(e) => {
                tracing::info!(path = %path.display(), error = %e, "cached artifact not usable; recompiling");
                return Ok(None);
            }
        };
        Ok(Some(self.prepare(&component)?))
    }

    /// Load from the cache, or compile `source` when the cache cannot serve.
    pub(crate) fn load_or_compile(&self, sha256: &str, source: &Path) -> WasmResult<WasmFunction> {
        if let Some(function) = self.load(sha256)? {
            return Ok(function);
        }
        let wasm = std::fs::read(source).map_err(|e| WasmError::Io {
            context: format!("reading {}", source.display()),
            source: e,
        })?;
        self.precompile(&wasm, sha256)?;
        self.load(sha256)?
            .ok_or_else(|| WasmError::Invalid("the compiled artifact could not be loaded".into()))
    }

    fn prepare(&self, component: &Component) -> WasmResult<WasmFunction> {
        let instance_pre = self.inner.linker.instantiate_pre(component).map_err(|e| {
            WasmError::Invalid(format!(
                "the component cannot run as a wasi:http proxy: {e:#} \
                 (Gust runs components that import only WASI 0.2 and wasi:http)"
            ))
        })?;
        let pre = ProxyPre::new(instance_pre).map_err(|e| {
            WasmError::Invalid(format!(
                "the component is not a wasi:http proxy: {e:#} (it must export wasi:http/incoming-handler@0.2.x)"
            ))
        })?;
        Ok(WasmFunction { pre })
    }
}

/// A core module or anything else gets a message that says what was expected.
fn check_is_component(wasm: &[u8]) -> WasmResult<()> {
    if !wasm.starts_with(b"\0asm") || wasm.len() < 8 {
        return Err(WasmError::Invalid(
            "the file is not WebAssembly (no `\\0asm` header)".into(),
        ));
    }
    // Bytes 4..8: version 1 layer 0 is a core module; layer 1 is a component.
    if wasm[6..8] != [0x01, 0x00] {
        return Err(WasmError::Invalid(
            "the file is a core WebAssembly module, not a component: build for wasm32-wasip2 \
             (or wrap it with `wasm-tools component new`) exporting wasi:http/incoming-handler"
                .into(),
        ));
    }
    Ok(())
}

fn base_config() -> Config {
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    config
}

/// Build the engine with the pooling allocator, shrinking the pool until the host grants its
/// address-space reservation; fall back to on-demand allocation, with a warning, if it never does.
fn build_engine(config: &WasmConfig) -> WasmResult<(Engine, bool)> {
    let mut instances = config.pool_instances.max(1);
    let max_memory = config.max_memory_mb as usize * 1024 * 1024;
    loop {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(instances)
            // A Rust std component holds a few core instances (the program plus shims).
            .total_core_instances(instances * 4)
            .total_memories(instances * 2)
            .total_tables(instances * 4)
            .total_stacks(instances)
            .max_memory_size(max_memory)
            // Keep the first pages of each slot mapped between requests: a fresh instance then
            // starts without page faults for the usual small heap.
            .linear_memory_keep_resident(config.keep_resident)
            .table_keep_resident(config.table_keep_resident)
            // Reset only the pages a guest dirtied, found with PAGEMAP_SCAN where the kernel has it.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .async_stack_keep_resident(config.stack_keep_resident);
        let mut wasm_config = base_config();
        wasm_config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        match Engine::new(&wasm_config) {
            Ok(engine) => return Ok((engine, true)),
            Err(e) if instances > 16 => {
                tracing::debug!(instances, error = %e, "pooling reservation refused; shrinking the pool");
                instances /= 2;
            }
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "the pooling allocator could not reserve its address space; \
                     running with on-demand allocation (slower instantiation)"
                );
                let engine = Engine::new(&base_config()).map_err(WasmError::engine)?;
                return Ok((engine, false));
            }
        }
    }
}

/// Advance the engine's epoch every `tick` on a plain thread (independent of the async
/// runtime's load). The thread ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("gust-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(tick);
            }
        })
        .expect("spawning the epoch thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_modules_are_told_apart_from_components() {
        let core = b"\0asm\x01\0\0\0";
        let err = check_is_component(core).unwrap_err().to_string();
        assert!(
            err.contains("core WebAssembly module, not a component"),
            "{err}"
        );
        assert!(check_is_component(b"\0asm\x0d\0\x01\0").is_ok());
        assert!(
            check_is_component(b"PK\x03\x04....")
                .unwrap_err()
                .to_string()
                .contains("not WebAssembly")
        );
    }
}
