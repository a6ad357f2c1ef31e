//! Durability: `kill -9` of the server while async executions are queued and running loses
//! none of them. Every execution the server accepted (answered 202 for) completes after a
//! restart on the same data dir; `attempts` shows which ones ran more than once.

use std::collections::HashSet;
use std::time::Duration;

use gust_core::{ExecutionStatus, FunctionSpec};
use serde_json::json;

use crate::harness::{TestServer, spec, test_guest};

#[tokio::test]
async fn accepted_executions_survive_a_sigkill() {
    const SUBMITTED: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let mut server = TestServer::start_in(dir.path(), &[]);
    server
        .deploy_ready(
            "job",
            FunctionSpec {
                // Ten at a time, 150 ms each: ~4.5 s of work, so the kill lands mid-queue even when
                // submitting is slow on a loaded machine.
                max_scale: Some(10),
                ..spec()
            },
            &test_guest(),
        )
        .await;
    let client = server.client();
    let mut accepted = HashSet::new();
    for i in 0..SUBMITTED {
        let execution = client
            .submit_execution(
                "default",
                "job",
                &json!({"path": format!("/sleep?ms=150&n={i}")}),
                None,
            )
            .await
            .unwrap();
        accepted.insert(execution.id);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = client
        .list_executions("default", "job", &[("status", "completed")])
        .await
        .unwrap()
        .total as usize;
    server.kill();
    assert!(
        before < SUBMITTED,
        "everything finished before the kill; the test proves nothing"
    );

    let server = TestServer::start_in(dir.path(), &[]);
    let client = server.client();
    let mut completed = 0;
    for _ in 0..300 {
        completed = client
            .list_executions("default", "job", &[("status", "completed")])
            .await
            .unwrap()
            .total as usize;
        if completed >= SUBMITTED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(completed, SUBMITTED, "accepted executions were lost");

    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("limit", "100")];
        if let Some(c) = &cursor {
            query.push(("cursor", c.as_str()));
        }
        let page = client
            .list_executions("default", "job", &query)
            .await
            .unwrap();
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let ids: HashSet<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, accepted, "exactly the accepted executions, each once");
    assert!(all.iter().all(|e| e.status == ExecutionStatus::Completed));
    // The ones running at the kill ran again: their record says so.
    assert!(
        all.iter().any(|e| e.attempts >= 2),
        "no execution was interrupted mid-run"
    );
}
