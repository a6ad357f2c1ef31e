//! Debian packages the tests need, installed with apt-get when missing: as root, and one
//! install at a time on the machine, whichever target dir the tests build in (apt takes its
//! own locks, but a second install would fail on them instead of waiting).

use std::fs::File;
use std::process::Command;
use std::time::Instant;

const LOCK: &str = "/tmp/gust-test-apt.lock";

/// Install `packages` (`apt-get update`, then `apt-get install -y --no-install-recommends`)
/// unless `present()` says they are there, which is asked again under the lock: a concurrent
/// test may have installed them meanwhile. `prepare` runs just before apt-get. `needed_by`
/// names what needs them, for the panic when this process cannot install them.
pub(crate) fn install(
    packages: &[&str],
    needed_by: &str,
    present: impl Fn() -> bool,
    prepare: impl FnOnce(),
) {
    if present() {
        return;
    }
    let hint = format!(
        "hint: run `apt-get install -y --no-install-recommends {}` as root",
        packages.join(" ")
    );
    assert!(
        rustix::process::geteuid().is_root(),
        "{needed_by} need {} and cannot install it without root.\n{hint}, or run the tests \
         as root",
        packages.join(" ")
    );
    let lock = File::create(LOCK).unwrap_or_else(|e| panic!("cannot create {LOCK}: {e}"));
    // Blocks while another test process installs; the lock goes with the file.
    lock.lock().unwrap();
    if present() {
        return;
    }
    prepare();
    let started = Instant::now();
    eprintln!("installing {} from Debian (once)", packages.join(" "));
    apt(&["update"], needed_by, &hint);
    let install = ["install", "-y", "--no-install-recommends"];
    apt(
        &install.iter().chain(packages).copied().collect::<Vec<_>>(),
        needed_by,
        &hint,
    );
    eprintln!(
        "installed {} in {:.0?}",
        packages.join(" "),
        started.elapsed()
    );
    assert!(
        present(),
        "apt-get installed {}, yet {needed_by} do not find it",
        packages.join(" ")
    );
}

fn apt(args: &[&str], needed_by: &str, hint: &str) {
    let mut command = Command::new("apt-get");
    command
        .args(args)
        // Waits for another apt or dpkg to finish instead of failing on its lock.
        .args(["-o", "DPkg::Lock::Timeout=600"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}), so {needed_by} cannot run:\n{}\n{}\n{hint}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
