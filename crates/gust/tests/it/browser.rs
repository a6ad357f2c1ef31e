//! A real browser against a running server: headless Chromium (Debian's, installed by the
//! test set-up when missing) driven by Playwright for Python, with axe-core loaded in the
//! page. Screenshots go to `<target>/console-screenshots/`.

use gust_test_tools::browser;
use serde_json::Value;

use crate::harness::{TestServer, workspace_root};

#[tokio::test]
async fn chromium_reads_the_openapi_document_and_runs_axe_in_it() {
    let server = TestServer::start();
    let chromium = browser::chromium();
    let venv = browser::playwright();
    let axe = browser::axe_core();
    let screenshot = browser::screenshots_dir().join("openapi-json.png");
    let _ = std::fs::remove_file(&screenshot);

    let output = tokio::task::spawn_blocking(move || {
        venv.command("python")
            .arg(workspace_root().join("crates/gust/tests/it/browser/read_page.py"))
            .arg(format!("{}/api/v1/openapi.json", server.url))
            .arg(&chromium)
            .arg(&axe)
            .arg(&screenshot)
            .args(browser::launch_args())
            .output()
            .map(|output| (output, screenshot, server))
    })
    .await
    .unwrap()
    .expect("running the Playwright script");
    let (output, screenshot, _server) = output;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Playwright script failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_str(stdout.trim()).expect("one JSON object");

    assert_eq!(read["status"], 200);
    assert!(
        read["content_type"]
            .as_str()
            .unwrap()
            .starts_with("application/json"),
        "{}",
        read["content_type"]
    );
    // What the browser shows is the document the server serves.
    let shown: Value = serde_json::from_str(read["text"].as_str().unwrap())
        .expect("the page shows the document as JSON text");
    assert_eq!(shown["info"]["title"], "Gust API");
    assert!(shown["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(shown["paths"]["/api/v1/schedules/next"]["get"].is_object());
    // The pinned axe-core ran in the page.
    let pinned = browser::AXE_CORE.rsplit('@').next().unwrap();
    assert_eq!(read["axe"]["version"], pinned, "{read}");
    assert!(read["axe"]["violations"].is_array());
    // A PNG was written beside the test output.
    let png = std::fs::read(&screenshot).expect("the screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    assert!(png.len() > 1000, "a {} byte screenshot", png.len());
}
