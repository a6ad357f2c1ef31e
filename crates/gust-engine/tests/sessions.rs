//! Sign-in sessions: a secret checked once opens a session that stands for its token until it
//! expires, is closed, or its token goes; the store never holds the session's id or the
//! token's secret; wrong secrets count against the address that sent them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use gust_core::{Scope, TokenSpec};
use gust_engine::auth::hash_secret;
use gust_engine::{Caller, Engine, ServerConfig};
use gust_sandbox::SpawnerCommand;

struct Started {
    engine: Arc<Engine>,
    admin: Caller,
    _data: tempfile::TempDir,
}

async fn start() -> Started {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let data = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(data.path().to_path_buf());
    // No sandboxes needed: a spawner that cannot start leaves the process runtimes off.
    config.process.spawner = Some(SpawnerCommand {
        program: "/bin/false".into(),
        args: vec![],
    });
    config.process.stem_cells = 0;
    config.auth_failures.burst = 3;
    let bootstrap = Engine::start(config).await.unwrap();
    let secret = bootstrap.new_admin_token.unwrap();
    let engine = bootstrap.state;
    let admin = engine.authenticate(Some(&secret)).unwrap();
    Started {
        engine,
        admin,
        _data: data,
    }
}

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

#[tokio::test]
async fn a_session_stands_for_its_token_until_closed_and_keeps_no_secret() {
    let Started {
        engine,
        admin,
        _data,
    } = start().await;
    let reader = engine
        .create_token(
            &admin,
            TokenSpec {
                scopes: Some(vec![Scope::Read]),
                ..TokenSpec::default()
            },
        )
        .await
        .unwrap();
    let secret = reader.token.clone().unwrap();
    let opened = engine
        .open_session(&secret, Some(CLIENT), chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(opened.caller.token.id, reader.id);
    let caller = engine
        .session_caller(&opened.id, Some(CLIENT))
        .await
        .unwrap();
    assert_eq!(caller.token.id, reader.id);
    assert_eq!(caller.token.scopes, [Scope::Read]);

    let row = engine
        .store
        .get_console_session(&hash_secret(&opened.id))
        .await
        .unwrap();
    assert_eq!(row.token_id, reader.id);
    assert_ne!(row.id_hash, opened.id, "the store keeps a hash of the id");
    let db = std::fs::read(_data.path().join("gust.db")).unwrap();
    let wal = std::fs::read(_data.path().join("gust.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        for needle in [opened.id.as_bytes(), secret.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "no session id or token secret in the database files"
            );
        }
    }

    engine.close_session(&caller, &opened.id).await.unwrap();
    let ended = engine.session_caller(&opened.id, None).await.unwrap_err();
    assert_eq!(ended.status, 401);
    engine.close_session(&caller, &opened.id).await.unwrap();
}

#[tokio::test]
async fn revoking_the_token_or_reaching_its_expiry_ends_the_session() {
    let Started {
        engine,
        admin,
        _data,
    } = start().await;
    let token = engine
        .create_token(&admin, TokenSpec::default())
        .await
        .unwrap();
    let opened = engine
        .open_session(
            token.token.as_deref().unwrap(),
            None,
            chrono::Duration::hours(1),
        )
        .await
        .unwrap();
    engine.session_caller(&opened.id, None).await.unwrap();
    engine.delete_token(&admin, &token.id).await.unwrap();
    assert_eq!(
        engine
            .session_caller(&opened.id, None)
            .await
            .unwrap_err()
            .status,
        401
    );

    let soon = gust_core::now() + chrono::Duration::minutes(10);
    let short = engine
        .create_token(
            &admin,
            TokenSpec {
                expires_at: Some(soon),
                ..TokenSpec::default()
            },
        )
        .await
        .unwrap();
    let opened = engine
        .open_session(
            short.token.as_deref().unwrap(),
            None,
            chrono::Duration::hours(8),
        )
        .await
        .unwrap();
    assert!(opened.expires_at <= soon, "never outlives its token");
}

#[tokio::test]
async fn wrong_secrets_are_refused_and_throttled_per_address() {
    let Started { engine, _data, .. } = start().await;
    for _ in 0..3 {
        let refused = engine
            .open_session("gust_wrong", Some(CLIENT), chrono::Duration::hours(1))
            .await
            .err()
            .unwrap();
        assert_eq!(refused.status, 401);
    }
    let throttled = engine
        .open_session("gust_wrong", Some(CLIENT), chrono::Duration::hours(1))
        .await
        .err()
        .unwrap();
    assert_eq!(throttled.status, 429);
    let throttled = engine
        .authenticate_from(Some("gust_wrong"), Some(CLIENT))
        .unwrap_err();
    assert_eq!(throttled.status, 429, "the API's throttle is the same one");
    assert_eq!(
        engine
            .session_caller("no-such-session", None)
            .await
            .unwrap_err()
            .status,
        401
    );
}
