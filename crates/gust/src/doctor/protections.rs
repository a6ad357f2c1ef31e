//! The protections `gust serve` would run with here, beyond the sandbox's own table: the
//! no_new_privs bit every sandbox sets, HTTPS, and who can read the master key and the data
//! dir. Read from the same flags and variables as `serve`, so an operator checks the exact
//! configuration they start.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use crate::settings::Settings;

/// How one protection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// In force.
    Ok,
    /// In force, but weaker than it should be (the detail says how to mend it).
    Weak,
    /// Not in force.
    Off,
}

impl Standing {
    fn label(self) -> &'static str {
        match self {
            Standing::Ok => "ok",
            Standing::Weak => "weak",
            Standing::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Protection {
    pub part: &'static str,
    pub standing: Standing,
    pub detail: String,
}

impl Protection {
    fn new(part: &'static str, standing: Standing, detail: impl Into<String>) -> Self {
        Self {
            part,
            standing,
            detail: detail.into(),
        }
    }
}

/// Every protection this module checks, in the order `gust doctor` prints them.
pub fn check(settings: &Settings) -> Vec<Protection> {
    let data_dir = &settings.server.data_dir;
    let key_file = settings
        .server
        .master_key_file
        .clone()
        .unwrap_or_else(|| data_dir.join("master.key"));
    let mut found = vec![no_new_privs(), tls(settings)];
    let key_made_at_start = settings.server.master_key_file.is_none();
    found.push(private_file("master key", &key_file, key_made_at_start));
    found.push(data_dir_access(data_dir));
    for (part, name) in [
        ("admin token file", "admin-token"),
        ("signed URL key", "url-key"),
    ] {
        found.push(private_file(part, &data_dir.join(name), true));
    }
    found
}

pub fn print(protections: &[Protection]) {
    for protection in protections {
        println!(
            "{:<34} {:<8} {}",
            protection.part,
            protection.standing.label(),
            protection.detail
        );
    }
}

/// Sets the bit on a thread of its own (it is per thread, and inherited by what the thread
/// starts), then reads it back: what every sandbox does before its seccomp filter loads.
fn no_new_privs() -> Protection {
    let probe = std::thread::spawn(|| {
        rustix::thread::set_no_new_privs(true)?;
        rustix::thread::no_new_privs()
    })
    .join();
    match probe {
        Ok(Ok(true)) => Protection::new(
            "no_new_privs",
            Standing::Ok,
            "set in every sandbox: setuid binaries and file capabilities grant nothing",
        ),
        Ok(Ok(false)) => Protection::new(
            "no_new_privs",
            Standing::Off,
            "the kernel did not keep the bit",
        ),
        Ok(Err(e)) => Protection::new(
            "no_new_privs",
            Standing::Off,
            format!("the kernel refused it: {e}"),
        ),
        Err(_) => Protection::new("no_new_privs", Standing::Off, "the probe failed"),
    }
}

fn tls(settings: &Settings) -> Protection {
    let Some((cert, key)) = &settings.tls else {
        return Protection::new(
            "tls",
            Standing::Off,
            format!(
                "plain HTTP on {}: give --tls-cert and --tls-key, or put a TLS proxy in front",
                settings.listen
            ),
        );
    };
    if let Err(e) = gust_api::Tls::load(cert.clone(), key.clone()) {
        return Protection::new("tls", Standing::Off, format!("will not start: {e}"));
    }
    let key_access = private_file("tls key", key, false);
    if key_access.standing != Standing::Ok {
        return Protection::new("tls", Standing::Weak, key_access.detail);
    }
    let plain = match &settings.plain_listen {
        Some(plain) => format!("; plain HTTP too on {plain}"),
        None => String::new(),
    };
    Protection::new(
        "tls",
        Standing::Ok,
        format!(
            "HTTPS on {} with {}{plain}",
            settings.listen,
            cert.display()
        ),
    )
}

/// A file only its owner may read. A missing one is fine when `serve` makes it (mode 0600)
/// at first start, and a fault when it must be given.
fn private_file(part: &'static str, path: &Path, made_at_start: bool) -> Protection {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && made_at_start => {
            return Protection::new(
                part,
                Standing::Ok,
                format!("{}: not made yet (made mode 0600)", path.display()),
            );
        }
        Err(e) => return Protection::new(part, Standing::Off, format!("{}: {e}", path.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Protection::new(
            part,
            Standing::Weak,
            format!(
                "{}: mode {mode:04o}, readable by others than its owner: chmod 600 it",
                path.display()
            ),
        );
    }
    Protection::new(
        part,
        Standing::Ok,
        format!(
            "{}: mode {mode:04o}, owner uid {}",
            path.display(),
            meta.uid()
        ),
    )
}

/// The data dir holds every request, response and log: nobody but its owner should list or
/// enter it, and nobody else may write it.
fn data_dir_access(dir: &Path) -> Protection {
    const PART: &str = "data dir";
    let meta = match std::fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Protection::new(
                PART,
                Standing::Ok,
                format!("{}: not made yet (made mode 0700)", dir.display()),
            );
        }
        Err(e) => return Protection::new(PART, Standing::Off, format!("{}: {e}", dir.display())),
    };
    let mode = meta.permissions().mode() & 0o777;
    let (standing, why) = if mode & 0o022 != 0 {
        (
            Standing::Off,
            "writable by others than its owner: chmod 700 it",
        )
    } else if mode & 0o077 != 0 {
        (
            Standing::Weak,
            "others can enter it (the database holds requests and logs): chmod 700 it",
        )
    } else {
        (Standing::Ok, "owner only")
    };
    Protection::new(
        PART,
        standing,
        format!(
            "{}: mode {mode:04o}, owner uid {}; {why}",
            dir.display(),
            meta.uid()
        ),
    )
}
