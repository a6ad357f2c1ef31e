//! Chunked uploads through the engine's operations: chunks append in order, a chunk sent again
//! changes nothing, a chunk out of place or of another size is refused with the upload left as
//! it was, concurrent copies of a chunk are written once, the last chunk queues the build, and
//! uploads left unfinished are pruned with their bytes.

use std::sync::Arc;
use std::time::Duration;

use gust_core::{DeploymentStatus, FunctionSpec};
use gust_engine::ops::{CONTENT_RANGE, ChunkRange, UploadOptions};
use gust_engine::{Caller, Engine, Error, ServerConfig};
use gust_sandbox::SpawnerCommand;
use sha2::{Digest, Sha256};

struct Started {
    engine: Arc<Engine>,
    admin: Caller,
    data: tempfile::TempDir,
}

async fn start_with(configure: impl FnOnce(&mut ServerConfig)) -> Started {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let data = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(data.path().to_path_buf());
    // No sandboxes needed: the process runtimes stay off.
    config.process.spawner = Some(SpawnerCommand {
        program: "/bin/false".into(),
        args: vec![],
    });
    config.process.stem_cells = 0;
    configure(&mut config);
    let bootstrap = Engine::start(config).await.unwrap();
    let engine = bootstrap.state;
    let admin = engine
        .authenticate(Some(&bootstrap.new_admin_token.unwrap()))
        .unwrap();
    for name in ["app", "other"] {
        engine
            .create_function(
                &admin,
                "default",
                FunctionSpec {
                    name: Some(name.into()),
                    runtime: Some("wasm".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    Started {
        engine,
        admin,
        data,
    }
}

async fn start() -> Started {
    start_with(|_| {}).await
}

/// `len` bytes that read as a .tar.gz by their first two, the rest varied.
fn package(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    bytes[..2].copy_from_slice(&[0x1f, 0x8b]);
    bytes
}

fn range(start: usize, end_exclusive: usize, total: usize) -> ChunkRange {
    ChunkRange {
        start: start as u64,
        end: end_exclusive as u64 - 1,
        total: total as u64,
    }
}

impl Started {
    /// Send bytes `start..end` of `code` as one chunk of `f`'s upload `deployment`.
    async fn send(
        &self,
        f: &str,
        deployment: Option<&str>,
        code: &[u8],
        start: usize,
        end: usize,
    ) -> Result<gust_core::Deployment, Error> {
        self.engine
            .upload_chunk(
                &self.admin,
                "default",
                f,
                deployment,
                range(start, end, code.len()),
                &code[start..end],
                UploadOptions::default(),
            )
            .await
    }

    async fn get(&self, id: &str) -> Result<gust_core::Deployment, Error> {
        self.engine
            .get_deployment(&self.admin, "default", "app", id)
            .await
    }

    fn staged(&self) -> Vec<String> {
        std::fs::read_dir(self.data.path().join("uploads"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }
}

#[tokio::test]
async fn chunks_append_in_order_and_the_last_queues_the_build() {
    let s = start().await;
    let code = package(250_000);
    let first = s.send("app", None, &code, 0, 100_000).await.unwrap();
    assert_eq!(first.status, DeploymentStatus::Uploading);
    assert_eq!((first.received, first.size), (100_000, 250_000));
    assert!(first.sha256.is_empty());
    assert_eq!(s.staged(), std::slice::from_ref(&first.id));
    assert_eq!(s.get(&first.id).await.unwrap(), first);

    let second = s
        .send("app", Some(&first.id), &code, 100_000, 200_000)
        .await
        .unwrap();
    assert_eq!(second.status, DeploymentStatus::Uploading);
    assert_eq!(second.received, 200_000);
    // Not buildable, not activatable, no code to download yet.
    let rebuild = s
        .engine
        .rebuild_deployment(&s.admin, "default", "app", &first.id)
        .await
        .unwrap_err();
    assert_eq!(rebuild.status, 409, "{}", rebuild.message);
    assert!(rebuild.message.contains("200000 of 250000"));
    let activate = s
        .engine
        .activate_deployment(&s.admin, "default", "app", &first.id)
        .await
        .unwrap_err();
    assert_eq!(activate.status, 409, "{}", activate.message);
    let code_read = s
        .engine
        .deployment_code(&s.admin, "default", "app", &first.id)
        .await
        .unwrap_err();
    assert_eq!(code_read.status, 409);

    let last = s
        .send("app", Some(&first.id), &code, 200_000, 250_000)
        .await
        .unwrap();
    assert_eq!(last.status, DeploymentStatus::Waiting);
    assert_eq!((last.received, last.size), (250_000, 250_000));
    assert_eq!(last.sha256, hex::encode(Sha256::digest(&code)));
    assert_eq!(s.engine.blobs.read(&last.sha256).await.unwrap(), code);
    assert!(s.staged().is_empty(), "the staged bytes went into the blob");

    // The build runs (and fails: the bytes are no real archive), as for any upload.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = s.get(&first.id).await.unwrap();
        if now.status == DeploymentStatus::Failed {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_chunk_holding_everything_is_a_whole_upload() {
    let s = start().await;
    let code = package(4096);
    let d = s.send("app", None, &code, 0, 4096).await.unwrap();
    assert_eq!(d.status, DeploymentStatus::Waiting);
    assert_eq!(d.received, 4096);
    assert_eq!(s.engine.blobs.read(&d.sha256).await.unwrap(), code);
    assert!(s.staged().is_empty());
}

#[tokio::test]
async fn a_chunk_sent_again_returns_the_upload_unchanged() {
    let s = start().await;
    let code = package(30_000);
    let first = s.send("app", None, &code, 0, 10_000).await.unwrap();
    let id = first.id.clone();
    let again = s.send("app", Some(&id), &code, 0, 10_000).await.unwrap();
    assert_eq!(again, first);
    s.send("app", Some(&id), &code, 10_000, 20_000)
        .await
        .unwrap();
    // An earlier chunk again, with other bytes: kept as received, not rewritten.
    let other = vec![0u8; 30_000];
    let again = s
        .send("app", Some(&id), &other, 10_000, 20_000)
        .await
        .unwrap();
    assert_eq!(again.received, 20_000);
    let done = s
        .send("app", Some(&id), &code, 20_000, 30_000)
        .await
        .unwrap();
    assert_eq!(done.status, DeploymentStatus::Waiting);
    assert_eq!(s.engine.blobs.read(&done.sha256).await.unwrap(), code);
    // The last chunk again, its answer lost: the complete deployment comes back.
    let retried = s
        .send("app", Some(&id), &code, 20_000, 30_000)
        .await
        .unwrap();
    assert_eq!(retried.id, id);
    assert_eq!(retried.sha256, done.sha256);
}

#[tokio::test]
async fn a_chunk_out_of_place_is_refused_naming_the_offset_expected() {
    let s = start().await;
    let code = package(30_000);
    let first = s.send("app", None, &code, 0, 10_000).await.unwrap();
    for (start, end) in [(15_000, 20_000), (5_000, 15_000)] {
        let e = s
            .send("app", Some(&first.id), &code, start, end)
            .await
            .unwrap_err();
        assert_eq!(e.status, 416, "{start}-{end}: {}", e.message);
        assert_eq!(e.field.as_deref(), Some(CONTENT_RANGE));
        assert!(
            e.message.contains("must start at byte 10000"),
            "{}",
            e.message
        );
    }
    assert_eq!(s.get(&first.id).await.unwrap(), first, "nothing changed");

    // A total other than the upload's.
    let e = s
        .engine
        .upload_chunk(
            &s.admin,
            "default",
            "app",
            Some(&first.id),
            range(10_000, 20_000, 40_000),
            &code[10_000..20_000],
            UploadOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.field.as_deref(), Some(CONTENT_RANGE));
    assert!(e.message.contains("30000"), "{}", e.message);

    // A new upload that does not start at 0.
    let e = s
        .send("app", None, &code, 10_000, 20_000)
        .await
        .unwrap_err();
    assert_eq!(
        (e.status.as_u16(), e.field.as_deref()),
        (400, Some(CONTENT_RANGE))
    );

    // A body longer or shorter than its range.
    for body in [&code[10_000..20_001], &code[10_000..19_999]] {
        let e = s
            .engine
            .upload_chunk(
                &s.admin,
                "default",
                "app",
                Some(&first.id),
                range(10_000, 20_000, 30_000),
                body,
                UploadOptions::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.status, 400);
        assert_eq!(e.field.as_deref(), Some(CONTENT_RANGE));
    }
    assert_eq!(s.get(&first.id).await.unwrap(), first, "nothing changed");
    let staged = std::fs::metadata(s.data.path().join("uploads").join(&first.id)).unwrap();
    assert_eq!(staged.len(), 10_000, "what a refused chunk wrote is gone");

    // The upload goes on from where it was.
    s.send("app", Some(&first.id), &code, 10_000, 20_000)
        .await
        .unwrap();
    let done = s
        .send("app", Some(&first.id), &code, 20_000, 30_000)
        .await
        .unwrap();
    assert_eq!(s.engine.blobs.read(&done.sha256).await.unwrap(), code);
}

#[tokio::test]
async fn a_deployment_of_another_function_takes_no_chunk() {
    let s = start().await;
    let code = package(30_000);
    let first = s.send("app", None, &code, 0, 10_000).await.unwrap();
    let e = s
        .send("other", Some(&first.id), &code, 10_000, 20_000)
        .await
        .unwrap_err();
    assert_eq!(e.status, 404, "{}", e.message);
    let e = s
        .send("app", Some("no-such-deployment"), &code, 10_000, 20_000)
        .await
        .unwrap_err();
    assert_eq!(e.status, 404, "{}", e.message);
    assert_eq!(s.get(&first.id).await.unwrap(), first);
}

#[tokio::test]
async fn a_first_chunk_of_no_known_format_stores_nothing() {
    let s = start().await;
    let mut code = package(20_000);
    code[..2].copy_from_slice(b"hi");
    let e = s.send("app", None, &code, 0, 10_000).await.unwrap_err();
    assert_eq!((e.status.as_u16(), e.field.as_deref()), (400, Some("code")));
    let e = s
        .engine
        .upload_chunk(
            &s.admin,
            "default",
            "app",
            None,
            range(0, 10_000, 20_000),
            &code[..10_000],
            UploadOptions {
                entrypoint: Some("x".repeat(1000)),
                content_type: Some("application/gzip".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("entrypoint"));
    let listed = s
        .engine
        .list_deployments(&s.admin, "default", "app", &Default::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 0);
    assert!(s.staged().is_empty());
}

#[tokio::test]
async fn the_total_is_held_to_the_upload_limit() {
    let s = start_with(|c| c.max_upload_bytes = 50_000).await;
    let code = package(60_000);
    let e = s.send("app", None, &code, 0, 10_000).await.unwrap_err();
    assert_eq!(e.status, 413);
    assert!(s.staged().is_empty());
}

#[tokio::test]
async fn copies_of_a_chunk_sent_at_once_are_written_once() {
    let s = Arc::new(start().await);
    let code = Arc::new(package(300_000));
    let first = s.send("app", None, &code, 0, 100_000).await.unwrap();
    let mut copies = Vec::new();
    for _ in 0..6 {
        let (s, code, id) = (s.clone(), code.clone(), first.id.clone());
        copies.push(tokio::spawn(async move {
            s.send("app", Some(&id), &code, 100_000, 200_000).await
        }));
    }
    for copy in copies {
        let d = tokio::time::timeout(Duration::from_secs(30), copy)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(d.received, 200_000);
    }
    let done = s
        .send("app", Some(&first.id), &code, 200_000, 300_000)
        .await
        .unwrap();
    assert_eq!(s.engine.blobs.read(&done.sha256).await.unwrap(), *code);
}

#[tokio::test]
async fn deleting_an_upload_removes_its_bytes() {
    let s = start().await;
    let code = package(30_000);
    let first = s.send("app", None, &code, 0, 10_000).await.unwrap();
    s.engine
        .delete_deployment(&s.admin, "default", "app", &first.id, false)
        .await
        .unwrap();
    assert!(s.staged().is_empty());
    let e = s
        .send("app", Some(&first.id), &code, 10_000, 20_000)
        .await
        .unwrap_err();
    assert_eq!(e.status, 404);
}

#[tokio::test]
async fn uploads_untouched_past_the_expiry_are_pruned_with_their_bytes() {
    let s = start_with(|c| c.jobs.upload_expiry = Duration::from_secs(3600)).await;
    let code = package(30_000);
    let stale = s.send("app", None, &code, 0, 10_000).await.unwrap();
    let done = s.send("app", None, &code, 0, 30_000).await.unwrap();
    // Bytes of a first chunk whose deployment was never stored.
    let orphan = s.data.path().join("uploads").join("orphan");
    std::fs::write(&orphan, b"cut off").unwrap();

    let now = gust_core::now();
    assert_eq!(s.engine.prune_abandoned_uploads(now).await.unwrap(), 0);
    assert_eq!(s.staged().len(), 2, "nothing is old enough yet");

    let later = now + chrono::Duration::hours(2);
    assert_eq!(s.engine.prune_abandoned_uploads(later).await.unwrap(), 1);
    assert_eq!(s.get(&stale.id).await.unwrap_err().status, 404);
    assert!(
        s.staged().is_empty(),
        "the staged bytes and the orphan are gone"
    );
    // A complete upload is no upload in progress.
    assert_eq!(s.get(&done.id).await.unwrap().id, done.id);
}
