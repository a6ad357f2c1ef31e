//! A real browser for tests: Debian's Chromium, driven by a pinned Playwright for Python, with
//! a pinned axe-core for accessibility checks.
//!
//! Nothing is downloaded outside the package registries: Chromium comes from Debian (installed
//! here, as root, when missing), and Playwright launches it by path ([`chromium`] as
//! `executable_path`) instead of fetching a browser build of its own, so `playwright install`
//! is never run. Playwright's Python package carries the driver it needs.
//!
//! ```no_run
//! let venv = gust_test_tools::browser::playwright();
//! let status = venv
//!     .command("python")
//!     .arg("check_page.py")
//!     .arg(gust_test_tools::browser::chromium())
//!     .arg(gust_test_tools::browser::axe_core())
//!     .status()
//!     .unwrap();
//! assert!(status.success());
//! ```

use std::path::{Path, PathBuf};

use crate::{NpmFolder, PythonVenv, target_dir};

/// Playwright for Python: its driver speaks to Chromium over the DevTools protocol, which
/// Debian's newer Chromium still serves.
pub const PLAYWRIGHT: &str = "playwright==1.65.2";
/// axe-core, the accessibility rules run in the page.
pub const AXE_CORE: &str = "axe-core@4.14.1";
/// Debian's packages: the browser, and a font so pages render text on a bare machine.
const PACKAGES: [&str; 2] = ["chromium", "fonts-dejavu-core"];
/// Where Debian puts the browser.
const DEBIAN_CHROMIUM: &str = "/usr/bin/chromium";
/// The Chromium binary, installed from Debian's packages when missing (see
/// [`debian::install`](crate::debian)). Panics, with what to do, when it is missing and this
/// process cannot install it.
pub fn chromium() -> PathBuf {
    crate::debian::install(
        &PACKAGES,
        "the browser tests",
        || installed().is_some(),
        || {},
    );
    installed().expect("installed")
}

/// A virtualenv with [`PLAYWRIGHT`]: run scripts with its `python`.
pub fn playwright() -> PythonVenv {
    PythonVenv::with(&[PLAYWRIGHT])
}

/// The path of [`AXE_CORE`]'s `axe.min.js`, for a page to load (Playwright's
/// `page.add_script_tag(path=...)`), then `axe.run()`.
pub fn axe_core() -> PathBuf {
    let folder = NpmFolder::with(&[AXE_CORE]);
    let script = folder.dir().join("node_modules/axe-core/axe.min.js");
    assert!(script.is_file(), "{} is missing", script.display());
    script
}

/// The arguments Chromium needs here: its sandbox refuses to start as root.
pub fn launch_args() -> Vec<&'static str> {
    if rustix::process::geteuid().is_root() {
        vec!["--no-sandbox"]
    } else {
        Vec::new()
    }
}

/// `<target>/console-screenshots/`: where browser tests write their screenshots, beside the
/// test output. Made when missing.
pub fn screenshots_dir() -> PathBuf {
    let dir = target_dir().join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn installed() -> Option<PathBuf> {
    let path = Path::new(DEBIAN_CHROMIUM);
    path.is_file().then(|| path.to_path_buf())
}
