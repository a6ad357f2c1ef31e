//! The blob store with a shared location: an S3-compatible server (moto, started per test) and
//! a folder. Two stores over one location stand for two nodes, each with its own cache.

use gust_store::{BlobStore, BlobUrl, StoreError};
use gust_test_tools::s3::{self, S3Server};
use sha2::{Digest, Sha256};

/// `url` with the test server's credentials.
fn with_credentials(url: &str) -> BlobUrl {
    url.parse::<BlobUrl>()
        .unwrap()
        .with_setting("aws_access_key_id", s3::ACCESS_KEY_ID)
        .unwrap()
        .with_setting("aws_secret_access_key", s3::SECRET_ACCESS_KEY)
        .unwrap()
}

fn s3_url(server: &S3Server, prefix: &str) -> BlobUrl {
    with_credentials(&server.url(prefix))
        .with_setting("aws_region", s3::REGION)
        .unwrap()
}

async fn start_s3() -> S3Server {
    tokio::task::spawn_blocking(|| S3Server::start("gust-blobs"))
        .await
        .unwrap()
}

/// What every shared location must do: blobs written on one node are listed and read on
/// another, a cache file altered on disk is fetched again, a removed blob is gone everywhere.
async fn two_nodes_share_blobs(url: BlobUrl) {
    let one_dir = tempfile::tempdir().unwrap();
    let two_dir = tempfile::tempdir().unwrap();
    let one = BlobStore::open_shared(one_dir.path(), &url).await.unwrap();
    let two = BlobStore::open_shared(two_dir.path(), &url).await.unwrap();

    // Larger than the upload buffer, so the S3 one goes up in parts.
    let big: Vec<u8> = (0..9_000_001u32).map(|i| (i % 251) as u8).collect();
    let small = b"hello".to_vec();
    let mut shas = Vec::new();
    for bytes in [&big, &small] {
        let sha = one.put(bytes).await.unwrap();
        assert_eq!(sha, hex::encode(Sha256::digest(bytes)));
        shas.push(sha);
    }
    let mut sorted = shas.clone();
    sorted.sort();
    assert_eq!(two.list().await.unwrap(), sorted);

    // Node two has nothing cached: it fetches, verifies and keeps the blob.
    assert!(!two.path(&shas[0]).exists());
    assert_eq!(two.read(&shas[0]).await.unwrap(), big);
    assert!(two.path(&shas[0]).exists());

    // A cache file whose bytes changed is detected and fetched again.
    let cached = two.local(&shas[1]).await.unwrap();
    std::fs::write(&cached, b"jello").unwrap();
    assert_eq!(two.local(&shas[1]).await.unwrap(), cached);
    assert_eq!(std::fs::read(&cached).unwrap(), small);

    let missing = "0".repeat(64);
    assert!(matches!(
        two.read(&missing).await,
        Err(StoreError::NotFound { .. })
    ));

    one.remove(&shas[1]).await.unwrap();
    assert_eq!(two.list().await.unwrap(), vec![shas[0].clone()]);
    std::fs::remove_file(two.path(&shas[1])).unwrap();
    assert!(matches!(
        two.local(&shas[1]).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn nodes_share_blobs_through_s3() {
    let server = start_s3().await;
    two_nodes_share_blobs(s3_url(&server, "cluster/a")).await;
    // Each prefix is a store of its own.
    let other_dir = tempfile::tempdir().unwrap();
    let other = BlobStore::open_shared(other_dir.path(), &s3_url(&server, "cluster/b"))
        .await
        .unwrap();
    assert!(other.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn nodes_share_blobs_through_a_folder() {
    let shared = tempfile::tempdir().unwrap();
    let url: BlobUrl = format!("file://{}", shared.path().join("blobs").display())
        .parse()
        .unwrap();
    two_nodes_share_blobs(url).await;
}

#[tokio::test]
async fn a_blob_altered_in_the_shared_store_is_refused() {
    let shared = tempfile::tempdir().unwrap();
    let url: BlobUrl = format!("file://{}", shared.path().display())
        .parse()
        .unwrap();
    let one_dir = tempfile::tempdir().unwrap();
    let one = BlobStore::open_shared(one_dir.path(), &url).await.unwrap();
    let sha = one.put(b"original").await.unwrap();
    std::fs::write(
        shared.path().join("sha256").join(&sha[..2]).join(&sha),
        b"tampered",
    )
    .unwrap();
    let two_dir = tempfile::tempdir().unwrap();
    let two = BlobStore::open_shared(two_dir.path(), &url).await.unwrap();
    let err = two.read(&sha).await.unwrap_err().to_string();
    assert!(err.contains("sha256"), "{err}");
    assert!(!two.path(&sha).exists());
}

#[tokio::test]
async fn a_missing_bucket_or_a_silent_endpoint_fails_at_open() {
    let server = start_s3().await;
    let dir = tempfile::tempdir().unwrap();
    let no_bucket = with_credentials(&server.url("x").replace("gust-blobs", "no-such-bucket"));
    let err = BlobStore::open_shared(dir.path(), &no_bucket)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not answer"), "{err}");
    assert!(err.contains("NoSuchBucket"), "{err}");

    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let silent = with_credentials(&format!("s3://b/p?endpoint=http://127.0.0.1:{port}"));
    let err = BlobStore::open_shared(dir.path(), &silent)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not answer"), "{err}");
}

#[test]
fn blob_urls_parse_or_say_why_not() {
    let url: BlobUrl = "s3://bucket/some/prefix/?endpoint=http://127.0.0.1:9000&region=eu-west-1"
        .parse()
        .unwrap();
    let BlobUrl::S3 {
        bucket,
        prefix,
        options,
        ..
    } = &url
    else {
        panic!("{url:?}");
    };
    assert_eq!(
        (bucket.as_str(), prefix.as_str()),
        ("bucket", "some/prefix")
    );
    assert_eq!(options.len(), 2);
    assert_eq!(
        "file:///srv/gust/blobs".parse::<BlobUrl>().unwrap(),
        BlobUrl::Dir("/srv/gust/blobs".into())
    );
    for (bad, says) in [
        ("gs://bucket/x", "unknown scheme `gs`"),
        ("s3:///prefix", "names no bucket"),
        ("s3://bucket/x?colour=blue", "unknown option `colour`"),
        (
            "s3://bucket/x?aws_secret_access_key=k",
            "AWS_SECRET_ACCESS_KEY",
        ),
        ("file://host/dir", "on this machine"),
        ("/srv/blobs", "not a URL"),
    ] {
        let err = bad.parse::<BlobUrl>().unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}
