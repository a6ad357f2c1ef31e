//! Change notices: a change written to the store behind this engine's back (by another node,
//! say) reaches its in-memory sets once a notice names it, and not before.

use std::sync::Arc;

use gust_core::{FunctionSpec, Scope, Token, TriggerKind, TriggerOrigin, TriggerSpec};
use gust_engine::auth::{hash_secret, new_secret};
use gust_engine::ops::ChangeNotice;
use gust_engine::{Caller, Engine, ServerConfig};
use gust_sandbox::SpawnerCommand;

struct Started {
    engine: Arc<Engine>,
    admin: Caller,
    _data: tempfile::TempDir,
}

async fn start() -> Started {
    // Server faults are logged, not returned: show them with the test's output.
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let data = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new(data.path().to_path_buf());
    // These tests need no sandboxes: a spawner that cannot start leaves the process runtimes
    // off, and Wasm and the store work as ever.
    config.process.spawner = Some(SpawnerCommand {
        program: "/bin/false".into(),
        args: vec![],
    });
    config.process.stem_cells = 0;
    let bootstrap = Engine::start(config).await.unwrap();
    let secret = bootstrap
        .new_admin_token
        .expect("a first start makes the admin token");
    let engine = bootstrap.state;
    let admin = engine.authenticate(Some(&secret)).unwrap();
    Started {
        engine,
        admin,
        _data: data,
    }
}

fn token() -> (Token, String) {
    let token = Token {
        id: gust_core::new_id(),
        description: "made by another node".into(),
        scopes: vec![Scope::Read],
        namespace_id: None,
        function_id: None,
        expires_at: None,
        created_at: gust_core::now(),
        last_used_at: None,
        token: None,
    };
    (token, new_secret())
}

#[tokio::test]
async fn a_token_written_elsewhere_works_once_noticed_and_stops_once_its_removal_is() {
    let Started {
        engine,
        _data: _kept,
        ..
    } = start().await;
    let (token, secret) = token();
    engine
        .store
        .create_token(&token, &hash_secret(&secret))
        .await
        .unwrap();
    let refused = engine.authenticate(Some(&secret)).unwrap_err();
    assert_eq!(refused.status, 401);

    engine.apply_change(&ChangeNotice::Tokens).await.unwrap();
    let caller = engine.authenticate(Some(&secret)).unwrap();
    assert_eq!(caller.token.id, token.id);

    engine.store.delete_token(&token.id).await.unwrap();
    assert!(engine.authenticate(Some(&secret)).is_ok(), "no notice yet");
    engine.apply_change(&ChangeNotice::Tokens).await.unwrap();
    assert_eq!(engine.authenticate(Some(&secret)).unwrap_err().status, 401);
}

#[tokio::test]
async fn triggers_written_elsewhere_are_scheduled_once_noticed_and_dropped_with_their_function() {
    let Started {
        engine,
        admin,
        _data: _kept,
    } = start().await;
    let function = engine
        .create_function(
            &admin,
            "default",
            FunctionSpec {
                name: Some("reports".into()),
                runtime: Some("wasm".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let cron = |engine: &Engine| engine.triggers.of_kind(TriggerKind::Cron, None);
    assert!(cron(&engine).is_empty());

    let trigger = TriggerSpec {
        kind: Some(TriggerKind::Cron),
        schedule: Some("*/5 * * * *".into()),
        ..Default::default()
    }
    .into_trigger(&function.namespace_id, &function.id, TriggerOrigin::Api)
    .unwrap();
    engine.store.create_trigger(&trigger).await.unwrap();
    assert!(cron(&engine).is_empty(), "no notice yet");

    let notice = ChangeNotice::Triggers {
        function_id: function.id.clone(),
    };
    engine.apply_change(&notice).await.unwrap();
    let scheduled = cron(&engine);
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].id, trigger.id);

    // The function goes, and its triggers with it in the store: the notice of the function
    // takes them out of the schedule too.
    engine.store.delete_function(&function.id).await.unwrap();
    assert_eq!(cron(&engine).len(), 1, "no notice yet");
    engine
        .apply_change(&ChangeNotice::Function {
            id: function.id.clone(),
        })
        .await
        .unwrap();
    assert!(cron(&engine).is_empty());
}

#[tokio::test]
async fn a_function_changed_elsewhere_gets_its_schedule_field_triggers_once_noticed() {
    let Started {
        engine,
        admin,
        _data: _kept,
    } = start().await;
    let mut function = engine
        .create_function(
            &admin,
            "default",
            FunctionSpec {
                name: Some("nightly".into()),
                runtime: Some("wasm".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Another node sets the schedule: it writes the function and the trigger kept in step
    // with the field, as its own `update_function` does.
    function.schedule = Some("0 3 * * *".into());
    engine.store.update_function(&function).await.unwrap();
    let trigger = TriggerSpec {
        kind: Some(TriggerKind::Cron),
        schedule: function.schedule.clone(),
        ..Default::default()
    }
    .into_trigger(
        &function.namespace_id,
        &function.id,
        TriggerOrigin::Function,
    )
    .unwrap();
    engine.store.create_trigger(&trigger).await.unwrap();

    engine
        .apply_change(&ChangeNotice::Function {
            id: function.id.clone(),
        })
        .await
        .unwrap();
    let scheduled = engine.triggers.of_kind(TriggerKind::Cron, None);
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].origin, TriggerOrigin::Function);
    // Reading it through the engine shows the other node's change.
    let read = engine
        .get_function(&admin, "default", "nightly")
        .await
        .unwrap();
    assert_eq!(read.schedule.as_deref(), Some("0 3 * * *"));
}

#[tokio::test]
async fn a_notice_for_something_already_gone_is_no_error() {
    let Started {
        engine,
        _data: _kept,
        ..
    } = start().await;
    for notice in [
        ChangeNotice::Namespace { id: "gone".into() },
        ChangeNotice::Function { id: "gone".into() },
        ChangeNotice::Triggers {
            function_id: "gone".into(),
        },
    ] {
        engine.apply_change(&notice).await.unwrap();
    }
}
