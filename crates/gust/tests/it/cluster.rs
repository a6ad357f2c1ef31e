//! Three `gust serve` nodes sharing one PostgreSQL database: async executions survive a node
//! killed with SIGKILL (the others take its work over once its lease runs out), a cron
//! trigger fires once per tick across the nodes, a change made on one node reaches the
//! others, the node list follows who is alive, the nodes ride out their database
//! connections being killed, a build held by a frozen node is finished by another, and warm
//! workers are scaled and detached on every node.
//!
//! The nodes share what an operator must give every node: `master.key`, `url-key` (and here
//! the admin token), and a blob store (`--blob-url`, a shared folder here) through which code
//! deployed on one node reaches the others.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use gust_core::{Execution, ExecutionStatus, FunctionSpec};
use gust_test_tools::{Postgres, ScratchDir};
use serde_json::json;

use crate::harness::{TestServer, spec, tar_gz, test_guest};
use crate::postgres::psql;

/// Short, so a killed node's work is taken over within seconds.
const LEASE_SECS: &str = "3";

/// A node's data dir under `scratch`; with `seed`, holding that node's keys and admin token.
fn node_dir(scratch: &Path, name: &str, seed: Option<&Path>) -> PathBuf {
    use std::os::unix::fs::DirBuilderExt;
    let dir = scratch.join(name);
    std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
    if let Some(seed) = seed {
        for file in ["master.key", "url-key", "admin-token"] {
            std::fs::copy(seed.join(file), dir.join(file)).unwrap();
        }
    }
    dir
}

struct Cluster {
    postgres: Postgres,
    /// `--blob-url` of every node: a folder they share.
    blob_url: String,
    nodes: Vec<TestServer>,
    dirs: Vec<PathBuf>,
    _scratch: ScratchDir,
}

impl Cluster {
    /// Three nodes; `job` (the test guest, ten runs at a time per node) deployed on the first
    /// before the others start.
    async fn start() -> Self {
        let postgres = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
        let scratch = ScratchDir::new("gust-cluster").unwrap();
        let shared = scratch.path().join("shared-blobs");
        std::fs::create_dir(&shared).unwrap();
        let blob_url = format!("file://{}", shared.display());
        let first = node_dir(scratch.path(), "a", None);
        let a = Self::node(&postgres, &blob_url, &first);
        a.deploy_ready(
            "job",
            FunctionSpec {
                max_scale: Some(10),
                // Every record kept, for counting.
                retention: Some(gust_core::function::RetentionSpec {
                    max_count: Some(100_000),
                    max_age_s: None,
                }),
                ..spec()
            },
            &test_guest(),
        )
        .await;
        let mut nodes = vec![a];
        let mut dirs = vec![first.clone()];
        for name in ["b", "c"] {
            let dir = node_dir(scratch.path(), name, Some(&first));
            nodes.push(Self::node(&postgres, &blob_url, &dir));
            dirs.push(dir);
        }
        Self {
            postgres,
            blob_url,
            nodes,
            dirs,
            _scratch: scratch,
        }
    }

    fn node(postgres: &Postgres, blob_url: &str, dir: &Path) -> TestServer {
        TestServer::start_in_env(
            dir,
            &["--database-url", &postgres.url(), "--blob-url", blob_url],
            &[("GUST_LEASE_SECS", LEASE_SECS)],
        )
    }

    fn restart(&mut self, i: usize) {
        self.nodes[i] = Self::node(&self.postgres, &self.blob_url, &self.dirs[i]);
    }

    /// Every execution of `function`, read through node `i`.
    async fn executions(&self, i: usize, function: &str) -> Vec<Execution> {
        let client = self.nodes[i].client();
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut query = vec![("limit", "100")];
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page = client
                .list_executions("default", function, &query)
                .await
                .unwrap();
            all.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return all,
            }
        }
    }

    async fn completed(&self, i: usize, function: &str) -> usize {
        self.nodes[i]
            .client()
            .list_executions("default", function, &[("status", "completed")])
            .await
            .unwrap()
            .total as usize
    }
}

/// Submit `count` async executions of `job` to a node, `concurrency` at a time; the ids it
/// accepted (answered 202 for). Stops at the first refusal (the node was killed).
async fn submit(url: String, token: String, count: usize, tag: &'static str) -> Vec<String> {
    let client = gust_client::Client::new(&url, Some(token));
    let mut accepted = Vec::new();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    use futures_util::StreamExt;
    for i in 0..count {
        let client = client.clone();
        pending.push(async move {
            client
                .submit_execution(
                    "default",
                    "job",
                    &json!({"path": format!("/sleep?ms=200&n={tag}{i}")}),
                    None,
                )
                .await
        });
        if pending.len() >= 8 {
            match pending.next().await {
                Some(Ok(execution)) => accepted.push(execution.id),
                _ => return accepted,
            }
        }
    }
    while let Some(result) = pending.next().await {
        if let Ok(execution) = result {
            accepted.push(execution.id);
        }
    }
    accepted
}

#[tokio::test]
async fn async_executions_survive_a_node_killed_mid_queue() {
    let mut cluster = Cluster::start().await;
    // 1,000 to each node at once; the third is killed once it has accepted some and the
    // cluster is busy.
    let mut submitters = Vec::new();
    for (i, tag) in ["a", "b", "c"].into_iter().enumerate() {
        let node = &cluster.nodes[i];
        submitters.push(tokio::spawn(submit(
            node.url.clone(),
            node.token.clone(),
            1000,
            tag,
        )));
    }
    let killed_node = std::fs::read_to_string(cluster.dirs[2].join("node-id")).unwrap();
    let killed_node = killed_node.trim().to_string();
    let held_by_killed = format!(
        "SELECT COUNT(*) FROM executions WHERE owner = '{killed_node}' \
         AND status IN ('queued', 'running')"
    );
    let started = Instant::now();
    while psql(&cluster.postgres, &held_by_killed)
        .parse::<u64>()
        .unwrap()
        < 100
        && started.elapsed() < Duration::from_secs(60)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.nodes[2].kill();
    let held_at_kill: u64 = psql(&cluster.postgres, &held_by_killed).parse().unwrap();
    assert!(
        held_at_kill > 0,
        "the killed node held no unfinished execution; the test proves nothing"
    );
    let mut accepted: HashSet<String> = HashSet::new();
    let mut by_killed = Vec::new();
    for (i, submitter) in submitters.into_iter().enumerate() {
        let ids = submitter.await.unwrap();
        if i == 2 {
            by_killed = ids.clone();
        }
        accepted.extend(ids);
    }

    // The two left take the killed node's work over once its lease runs out.
    let takeover = Instant::now();
    let deadline = takeover + Duration::from_secs(120);
    loop {
        let left: u64 = psql(&cluster.postgres, &held_by_killed).parse().unwrap();
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} executions still held by the killed node after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    eprintln!(
        "the killed node held {held_at_kill} unfinished executions; taken over in {:?}",
        takeover.elapsed()
    );
    // Restarted, it takes part again: more work through it.
    cluster.restart(2);
    let node = &cluster.nodes[2];
    accepted.extend(submit(node.url.clone(), node.token.clone(), 200, "c2").await);
    let total = accepted.len();
    assert!(total >= 2200, "only {total} accepted");

    let deadline = Instant::now() + Duration::from_secs(60);
    // All of them, and those in flight at the kill that were stored.
    while cluster.completed(0, "job").await
        < psql(&cluster.postgres, "SELECT COUNT(*) FROM executions")
            .parse()
            .unwrap()
        || cluster.completed(0, "job").await < total
    {
        assert!(
            Instant::now() < deadline,
            "{} of {total} accepted executions completed after 60 s; by node and status: {}; \
             nodes: {}; log of a: {}",
            cluster.completed(0, "job").await,
            psql(
                &cluster.postgres,
                "SELECT owner, status, COUNT(*) FROM executions GROUP BY 1, 2"
            ),
            psql(&cluster.postgres, "SELECT id, heartbeat_at FROM nodes"),
            std::fs::read_to_string(cluster.dirs[0].join("serve.log"))
                .unwrap_or_default()
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .join("\n")
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let all = cluster.executions(1, "job").await;
    let ids: HashSet<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), all.len(), "an execution is listed twice");
    let lost: Vec<&String> = accepted.difference(&ids).collect();
    assert!(lost.is_empty(), "accepted executions lost: {lost:?}");
    // Besides: at most the submits in flight to the node when it was killed (stored, their
    // answer lost with it).
    assert!(
        ids.len() - accepted.len() <= 8,
        "{} unknown executions",
        ids.len() - accepted.len()
    );
    for e in &all {
        assert_eq!(e.status, ExecutionStatus::Completed, "{e:?}");
        assert!(
            (1..=e.max_attempts).contains(&e.attempts),
            "{} ran {} times, {} allowed",
            e.id,
            e.attempts,
            e.max_attempts
        );
    }
    let of_killed: HashSet<&String> = by_killed.iter().collect();
    assert!(
        all.iter()
            .any(|e| of_killed.contains(&e.id) && e.attempts >= 1),
        "none of the killed node's executions ran"
    );
}

#[tokio::test]
async fn a_cron_trigger_fires_once_per_tick_across_nodes() {
    let cluster = Cluster::start().await;
    let client = cluster.nodes[0].client();
    let trigger = client
        .create_trigger(
            "default",
            "job",
            &json!({"kind": "cron", "schedule": "@every 1s"}),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    client
        .delete_trigger("default", "job", &trigger.id)
        .await
        .unwrap();
    // Let what fired last finish.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let fired: Vec<Execution> = cluster
        .executions(2, "job")
        .await
        .into_iter()
        .filter(|e| e.source.as_deref() == Some(&format!("trigger {}", trigger.id)))
        .collect();
    let mut per_tick: HashMap<String, usize> = HashMap::new();
    for e in &fired {
        *per_tick
            .entry(e.request.headers["x-gust-scheduled-time"].clone())
            .or_default() += 1;
    }
    assert!(
        (8..=12).contains(&per_tick.len()),
        "{} ticks fired in 10 s: {per_tick:?}",
        per_tick.len()
    );
    assert!(
        per_tick.values().all(|n| *n == 1),
        "a tick fired more than once: {per_tick:?}"
    );
}

/// Poll `GET /fn/default/job/env?name=…` on node `i` until it answers `expected`.
async fn wait_for_env(node: &TestServer, name: &str, expected: &str) -> Duration {
    let started = Instant::now();
    loop {
        let answer = node
            .http()
            .get(format!("{}/fn/default/job/env?name={name}", node.url))
            .bearer_auth(&node.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if answer == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} still answers {answer:?}, not {expected:?}",
            node.url
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn set_env(node: &TestServer, value: &str) {
    node.client()
        .update_function(
            "default",
            "job",
            &FunctionSpec {
                env: Some([("COLOR".to_string(), value.to_string())].into()),
                ..FunctionSpec::default()
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn a_change_on_one_node_reaches_the_others() {
    let cluster = Cluster::start().await;
    set_env(&cluster.nodes[0], "blue").await;
    for node in &cluster.nodes {
        let took = wait_for_env(node, "COLOR", "blue").await;
        eprintln!("{}: blue after {took:?}", node.url);
    }
    // And from another node back.
    set_env(&cluster.nodes[2], "green").await;
    for node in &cluster.nodes {
        wait_for_env(node, "COLOR", "green").await;
    }
    // A custom domain made on one node routes on the others; deleted, it stops.
    let domain = cluster.nodes[1]
        .client()
        .create_domain("default", "job", "job.example.test")
        .await
        .unwrap();
    let by_host = |node: &TestServer| {
        let port = node.url.rsplit(':').next().unwrap().to_string();
        let request = reqwest::Client::new()
            .get(format!("{}/status?code=201", node.url))
            .header("host", format!("job.example.test:{port}"))
            .bearer_auth(&node.token);
        async move { request.send().await.unwrap().status() }
    };
    for node in &cluster.nodes {
        eventually(
            Duration::from_secs(20),
            "the domain routes on every node",
            || by_host(node).map(|status| status == reqwest::StatusCode::CREATED),
        )
        .await;
    }
    cluster.nodes[2]
        .client()
        .delete_domain("default", "job", &domain.id)
        .await
        .unwrap();
    for node in &cluster.nodes {
        eventually(
            Duration::from_secs(20),
            "the domain stops on every node",
            || by_host(node).map(|status| status != reqwest::StatusCode::CREATED),
        )
        .await;
    }
}

#[tokio::test]
async fn code_deployed_on_one_node_runs_on_the_others() {
    let cluster = Cluster::start().await;
    // `job` was deployed on the first node before the others started: they fetched it.
    for node in &cluster.nodes[1..] {
        let answer = node
            .http()
            .get(format!("{}/fn/default/job/status?code=201", node.url))
            .bearer_auth(&node.token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            reqwest::StatusCode::CREATED,
            "{}",
            node.url
        );
    }
    // Deployed on the second node while all three run: the others learn of it from the
    // change notice and fetch its code from the shared store.
    cluster.nodes[1]
        .deploy_ready("late", spec(), &crate::harness::hello_guest())
        .await;
    for i in [0, 2] {
        let node = &cluster.nodes[i];
        let started = Instant::now();
        loop {
            let answer = node
                .http()
                .get(format!("{}/fn/default/late/", node.url))
                .bearer_auth(&node.token)
                .send()
                .await
                .unwrap();
            if answer.status().is_success() {
                assert!(answer.text().await.unwrap().contains("hello from gust"));
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "node {i} still answers {}",
                answer.status()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Its copy of the code is the shared one, checked by its sha256.
        let cached = std::fs::read_dir(cluster.dirs[i].join("blobs/sha256"))
            .unwrap()
            .count();
        assert!(cached > 0, "node {i} cached nothing");
    }
}

#[tokio::test]
async fn the_node_list_follows_which_nodes_are_alive() {
    let mut cluster = Cluster::start().await;
    let client = cluster.nodes[1].client();
    // A node's first heartbeat is written before it listens; its next one has its URL.
    let started = Instant::now();
    let nodes = loop {
        let nodes = client.list_nodes().await.unwrap();
        if nodes.len() == 3 && nodes.iter().all(|n| !n.url.is_empty()) {
            break nodes;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "nodes listed: {nodes:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let ids: Vec<String> = cluster
        .dirs
        .iter()
        .map(|d| {
            std::fs::read_to_string(d.join("node-id"))
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(
        nodes.iter().map(|n| n.id.clone()).collect::<Vec<_>>(),
        expected
    );
    for node in &nodes {
        assert_eq!(node.version, env!("CARGO_PKG_VERSION"));
        assert!(node.url.starts_with("http://127.0.0.1:"), "{node:?}");
    }
    // Each node's metrics say which node they are.
    let metrics = cluster.nodes[2]
        .http()
        .get(format!("{}/metrics", cluster.nodes[2].url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!("gust_node_info{{node=\"{}\"", ids[2])),
        "{metrics}"
    );

    cluster.nodes[2].kill();
    let started = Instant::now();
    loop {
        let alive: Vec<String> = client
            .list_nodes()
            .await
            .unwrap()
            .into_iter()
            .map(|n| n.id)
            .collect();
        if !alive.contains(&ids[2]) {
            assert_eq!(alive.len(), 2, "{alive:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the killed node is still listed after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn nodes_recover_when_their_database_connections_are_killed() {
    let cluster = Cluster::start().await;
    let mut accepted = HashSet::new();
    for round in 0..3 {
        for (i, node) in cluster.nodes.iter().enumerate() {
            let tag: &'static str = ["a", "b", "c"][i];
            accepted.extend(submit(node.url.clone(), node.token.clone(), 50, tag).await);
        }
        // Every connection of every node: pools, execution writers, listeners.
        let killed: u64 = psql(
            &cluster.postgres,
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'gust') t",
        )
        .parse()
        .unwrap();
        assert!(
            killed >= 9,
            "round {round}: only {killed} connections killed"
        );
        // Accepting again, on every node, without a restart (a request may meet a pooled
        // connection that is gone: retried).
        for node in &cluster.nodes {
            let started = Instant::now();
            loop {
                let result = node
                    .client()
                    .submit_execution("default", "job", &json!({"path": "/sleep?ms=1"}), None)
                    .await;
                match result {
                    Ok(execution) => {
                        accepted.insert(execution.id);
                        break;
                    }
                    Err(e) => assert!(
                        started.elapsed() < Duration::from_secs(20),
                        "{} still refuses after 20 s: {e}",
                        node.url
                    ),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let total = accepted.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.completed(0, "job").await < total {
        assert!(
            Instant::now() < deadline,
            "{} of {total} accepted executions completed",
            cluster.completed(0, "job").await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let all = cluster.executions(0, "job").await;
    let ids: HashSet<String> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, accepted, "every accepted execution, each once");
    // Changes still travel: the listeners listen again.
    set_env(&cluster.nodes[1], "after").await;
    for node in &cluster.nodes {
        wait_for_env(node, "COLOR", "after").await;
    }
}

#[tokio::test]
async fn a_server_on_sqlite_lists_itself_as_the_one_node() {
    let server = TestServer::start_with(&["--node-id", "solo-1"]);
    let started = Instant::now();
    let nodes = loop {
        let nodes = server.client().list_nodes().await.unwrap();
        if nodes.iter().all(|n| !n.url.is_empty()) {
            break nodes;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{nodes:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(nodes.len(), 1, "{nodes:?}");
    assert_eq!(nodes[0].id, "solo-1");
    assert_eq!(nodes[0].url, server.url);
    let home = tempfile::tempdir().unwrap();
    let output = crate::harness::cli(&server, home.path(), &["node", "list"]);
    assert!(output.status.success(), "{output:?}");
    let listed = crate::harness::cli_stdout(&output);
    assert!(
        listed
            .lines()
            .any(|line| line.trim_start().starts_with("solo-1 ")),
        "{listed}"
    );
}

/// The id a node chose at its first start.
fn node_id(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("node-id"))
        .unwrap()
        .trim()
        .to_string()
}

/// Send `signal` (`STOP`, `CONT`) to a process.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Poll `probe` until it is true, for up to `within`.
async fn eventually<F: std::future::Future<Output = bool>>(
    within: Duration,
    what: &str,
    mut probe: impl FnMut() -> F,
) {
    let started = Instant::now();
    while !probe().await {
        assert!(started.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A Python handler whose import takes `IMPORT_SLEEP_S` seconds: its build's import check
/// takes that long.
const SLOW_IMPORT: &str = "import os\nimport time\n\n\
time.sleep(float(os.environ.get('IMPORT_SLEEP_S', '0')))\n\n\n\
def handle(event, context):\n    return {'ok': True}\n";

#[tokio::test]
async fn a_build_held_by_a_frozen_node_is_finished_by_another() {
    let cluster = Cluster::start().await;
    let (a, b) = (&cluster.nodes[0], &cluster.nodes[1]);
    let node_a = node_id(&cluster.dirs[0]);
    let client = a.client();
    create_python(
        a,
        "slow",
        FunctionSpec {
            env: Some([("IMPORT_SLEEP_S".to_string(), "4".to_string())].into()),
            ..spec()
        },
    )
    .await;
    let deployment = client
        .create_deployment(
            "default",
            "slow",
            tar_gz(&[("main.py", SLOW_IMPORT.as_bytes())]),
            "application/gzip",
            false,
        )
        .await
        .unwrap();
    let builder_of = format!(
        "SELECT COALESCE(builder, '') || ' ' || status FROM deployments WHERE id = '{}'",
        deployment.id
    );
    // The node that took the upload claimed the build and is running it.
    eventually(Duration::from_secs(30), "node a builds the upload", || {
        let row = psql(&cluster.postgres, &builder_of);
        let expected = format!("{node_a} building");
        async move { row == expected }
    })
    .await;
    // Frozen mid-build: its heartbeat stops, and after the lease its build is anyone's.
    signal(a.pid(), "STOP");
    let built = b
        .client()
        .wait_for_build("default", "slow", &deployment.id, Duration::from_secs(120))
        .await
        .unwrap();
    assert_eq!(
        built.status,
        gust_core::DeploymentStatus::Ready,
        "{}",
        built.build_log
    );
    // Built by one of the others, whose id its log names (and which, done, holds it no more).
    let others = [node_id(&cluster.dirs[1]), node_id(&cluster.dirs[2])];
    assert!(
        others
            .iter()
            .any(|node| built.build_log.contains(&format!(") on node {node}\n"))),
        "{}",
        built.build_log
    );
    assert_eq!(psql(&cluster.postgres, &builder_of), "ready");
    // Thawed, the first node finishes its own run of the build and drops it: the outcome
    // saved stays the taker's.
    signal(a.pid(), "CONT");
    let log = cluster.dirs[0].join("serve.log");
    eventually(Duration::from_secs(60), "node a drops its build", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        async move { text.contains("another node took this build over") }
    })
    .await;
    let after = a
        .client()
        .get_deployment("default", "slow", &deployment.id)
        .await
        .unwrap();
    assert_eq!(after.status, gust_core::DeploymentStatus::Ready);
    assert_eq!(after.build_log, built.build_log);
}

/// Wait until every node lists `count` live workers of `py`.
async fn every_node_has_workers(cluster: &Cluster, count: u64, what: &str) {
    for node in &cluster.nodes {
        eventually(Duration::from_secs(30), what, || async {
            let listed = node
                .client()
                .list_instances("default", "py", None)
                .await
                .unwrap();
            listed["total"].as_u64() == Some(count)
        })
        .await;
    }
}

/// Create a Python function on a node (no code yet).
async fn create_python(node: &TestServer, name: &str, spec: FunctionSpec) {
    node.client()
        .create_function(
            "default",
            &FunctionSpec {
                name: Some(name.into()),
                runtime: Some("python3.11".into()),
                ..spec
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn workers_are_scaled_and_detached_on_every_node() {
    let cluster = Cluster::start().await;
    let handler: &[u8] = b"def handle(event, context):\n    return {'ok': True}\n";
    cluster.nodes[0]
        .deploy_package(
            "py",
            "python3.11",
            FunctionSpec {
                max_scale: Some(4),
                ..spec()
            },
            tar_gz(&[("main.py", handler)]),
        )
        .await;
    // The others learn of the function and its code from the notice.
    for node in &cluster.nodes[1..] {
        eventually(
            Duration::from_secs(20),
            "the function reaches every node",
            || {
                let (client, url) = (node.http(), format!("{}/fn/default/py/", node.url));
                let token = node.token.clone();
                async move {
                    let answer = client.get(url).bearer_auth(token).send().await;
                    answer.is_ok_and(|a| a.status().is_success())
                }
            },
        )
        .await;
    }
    // Each node's one worker (from the request just made) goes, on every node at once.
    let detached = cluster.nodes[2]
        .client()
        .detach_instances("default", "py", None)
        .await
        .unwrap();
    assert_eq!(detached["detached"], 1, "{detached}");
    every_node_has_workers(&cluster, 0, "every node detaches").await;
    // Two more warm workers, asked of one node: every node starts two of its own.
    let scaled = cluster.nodes[0]
        .client()
        .scale_instances("default", "py", 2, None)
        .await
        .unwrap();
    assert_eq!(scaled["instances"], 2, "{scaled}");
    every_node_has_workers(&cluster, 2, "every node scales up").await;
    // And one fewer, asked of another.
    cluster.nodes[1]
        .client()
        .scale_instances("default", "py", -1, None)
        .await
        .unwrap();
    every_node_has_workers(&cluster, 1, "every node scales down").await;
}

#[tokio::test]
async fn an_upload_url_from_one_node_uploads_once_through_any() {
    let cluster = Cluster::start().await;
    let package = tar_gz(&[(
        "main.py",
        b"def handle(event, context):\n    return 'ok'\n".as_slice(),
    )]);
    create_python(&cluster.nodes[0], "up", spec()).await;
    let signed = cluster.nodes[0]
        .client()
        .create_upload_url("default", "up", package.len() as u64)
        .await
        .unwrap();
    let through = |i: usize| {
        let node = &cluster.nodes[i];
        let base = &signed.url[..signed.url.find("/api/").unwrap()];
        let url = signed.url.replacen(base, &node.url, 1);
        let (http, body) = (node.http(), package.clone());
        async move { http.put(url).body(body).send().await.unwrap() }
    };
    let first = through(1).await;
    assert!(
        first.status().is_success(),
        "{}",
        first.text().await.unwrap()
    );
    for i in [2, 0] {
        let again = through(i).await;
        assert_eq!(again.status(), reqwest::StatusCode::FORBIDDEN, "node {i}");
        assert!(again.text().await.unwrap().contains("already used"));
    }
}
