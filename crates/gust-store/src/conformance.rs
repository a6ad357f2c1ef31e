//! What every [`Store`] backend must do, written against the trait alone: one async function
//! per behaviour, each given an empty store, panicking on the first check that fails.
//!
//! A backend runs them with [`conformance_tests!`](crate::conformance_tests), which makes one
//! test per case, so a failure names the behaviour that broke. A case added here must be listed
//! in that macro too.

use std::collections::BTreeMap;
use std::fmt::Debug;

use chrono::{DateTime, Duration, Utc};
use gust_core::metrics::{FunctionActivity, MinuteAggregate};
use gust_core::{
    Alias, AliasSpec, Deployment, DeploymentStatus, Domain, DomainSpec, Execution, ExecutionLogs,
    ExecutionRequest, ExecutionResponse, ExecutionRetention, ExecutionStatus, ExecutionTrigger,
    Function, FunctionSpec, FunctionStatus, FunctionTrigger, FunctionVersion, ListQuery, Namespace,
    NamespaceSpec, Order, PackageFormat, Page, RuntimeId, Scope, TestRequest, TestRequestSpec,
    Token, TriggerKind, TriggerOrigin, TriggerSpec, VersionSpec, Webhook, WebhookSpec,
    execution::RecordedBody,
};

use crate::{
    ConsoleSession, DomainScope, EdgeScope, ExecutionFilter, FunctionFilter, Store, StoreError,
    StoreResult,
};

/// One `#[tokio::test]` per conformance case. `$open` names an async fn that returns
/// `(store, guard)`: a store holding nothing yet (anything that derefs to `dyn Store`), and
/// whatever must outlive it (its temporary directory, say). Each case opens its own store, so
/// cases may check whole-store answers such as `all_triggers`.
#[macro_export]
macro_rules! conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@cases $open;
            namespaces_are_found_by_id_and_by_name,
            namespace_names_are_unique,
            namespaces_list_in_pages_with_search_and_restriction,
            missing_namespaces_are_not_found_by_their_key,
            a_namespace_holding_functions_is_not_deleted,
            functions_are_found_by_name_and_by_id,
            function_names_are_unique_within_a_namespace,
            functions_list_per_namespace_in_pages_with_search,
            functions_are_filtered_by_runtime_and_status,
            updating_configuration_keeps_the_build_state,
            updating_the_build_state_keeps_the_configuration,
            missing_functions_are_not_found_by_their_id,
            deleting_a_function_removes_what_belongs_to_it,
            unfinished_deployments_are_those_still_building,
            uploads_in_progress_are_kept_apart_from_builds,
            deployments_are_read_listed_and_deleted_per_function,
            activating_a_deployment_makes_it_the_only_active_one,
            blobs_are_in_use_while_a_deployment_refers_to_them,
            tokens_keep_their_hash_and_never_their_secret,
            triggers_are_read_updated_and_deleted_per_function,
            replacing_triggers_touches_only_that_origin_of_that_function,
            domains_are_read_listed_and_deleted_by_id,
            a_host_name_belongs_to_one_domain_of_the_store,
            deleting_a_function_or_namespace_removes_its_domains,
            versions_are_numbered_per_function_and_numbers_are_not_given_again,
            a_function_has_at_most_the_versions_allowed,
            aliases_are_unique_per_namespace_and_point_at_existing_versions,
            a_version_an_alias_points_at_is_not_deleted,
            deleting_a_function_removes_its_versions_and_aliases,
            webhooks_are_read_listed_moved_and_deleted_by_id,
            deleting_a_function_removes_its_webhooks,
            minutes_add_up_per_function_and_minute,
            activity_sums_a_namespaces_minutes_since_a_time,
            old_minutes_are_pruned_and_a_deleted_functions_minutes_go_with_it,
            test_requests_are_unique_per_function_and_capped,
            deleting_a_function_removes_its_test_requests,
            executions_are_put_replaced_and_read_per_function,
            finished_executions_are_deleted_and_unfinished_ones_kept,
            an_idempotency_key_admits_one_execution_per_function,
            executions_list_in_pages_either_way,
            executions_are_filtered_by_status_trigger_time_and_dead_letter,
            a_replayed_dead_letter_is_one_no_more,
            queued_executions_come_in_acceptance_order,
            interrupted_runs_go_back_to_the_queue,
            nodes_are_listed_while_their_heartbeat_is_fresh,
            a_gone_nodes_executions_are_claimed_by_one_other,
            a_build_is_held_by_one_node_and_taken_over_when_it_is_gone,
            a_cron_tick_is_advanced_by_one_caller,
            pruning_drops_finished_executions_past_the_age_limit,
            pruning_keeps_only_the_newest_finished_executions,
            a_backlog_larger_than_a_pruning_batch_is_pruned_whole,
            the_execution_writer_prunes_a_function_as_the_store_does,
            at_the_size_ceiling_the_oldest_finished_executions_go_first,
            function_serials_are_given_in_order_and_never_again,
            edge_resources_are_numbered_and_checked,
            deleting_an_edge_application_takes_its_instances_and_rules_and_unbinds_its_domains,
            token_use_is_recorded_and_only_moves_forward,
            console_sessions_are_read_pruned_and_go_with_their_token,
            an_upload_token_is_used_once_until_it_expires,
            secrets_read_back_through_a_key_rotation,
            secrets_are_set_and_removed_one_by_one,
            a_rotation_is_finished_only_by_retiring_the_old_keys,
            the_audit_log_lists_newest_first_filtered_and_paged,
        );
    };
    (@cases $open:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                let (store, _guard) = $open().await;
                $crate::conformance::$case(&*store).await;
            }
        )*
    };
}

// Namespaces.

pub async fn namespaces_are_found_by_id_and_by_name(store: &dyn Store) {
    let ns = namespace("payments", "the payments team");
    store.create_namespace(&ns).await.unwrap();
    assert_eq!(store.get_namespace(&ns.id).await.unwrap(), ns);
    // Secrets come back with their values: only their JSON form masks them.
    assert_eq!(store.get_namespace("payments").await.unwrap(), ns);

    let mut changed = ns.clone();
    changed.description = "settles invoices".into();
    changed.env.insert("REGION".into(), "us".into());
    changed.secrets = BTreeMap::from([("STRIPE_KEY".into(), "sk_new".into())]);
    store.update_namespace(&changed).await.unwrap();
    assert_eq!(store.get_namespace(&ns.id).await.unwrap(), changed);
}

pub async fn namespace_names_are_unique(store: &dyn Store) {
    let first = namespace("team", "first");
    store.create_namespace(&first).await.unwrap();
    let second = namespace("team", "second");
    assert_conflict(store.create_namespace(&second).await);
    assert_eq!(store.get_namespace("team").await.unwrap(), first);
    assert_not_found(
        store.get_namespace(&second.id).await,
        "namespace",
        &second.id,
    );
}

pub async fn namespaces_list_in_pages_with_search_and_restriction(store: &dyn Store) {
    let mut created = Vec::new();
    for (name, description) in [
        ("alpha", "the alpha team"),
        ("beta", "the beta team"),
        ("gamma", "the gamma team"),
        ("ops", "100% uptime"),
    ] {
        let ns = namespace(name, description);
        store.create_namespace(&ns).await.unwrap();
        created.push(ns.id);
    }
    let mut oldest_first = created.clone();
    oldest_first.sort();
    let newest_first: Vec<String> = oldest_first.iter().rev().cloned().collect();

    let listed = all_pages(2, Order::Desc, 4, async |q| {
        store.list_namespaces(&q, None).await
    })
    .await;
    assert_eq!(ids(&listed, |n| &n.id), newest_first);
    let listed = all_pages(3, Order::Asc, 4, async |q| {
        store.list_namespaces(&q, None).await
    })
    .await;
    assert_eq!(ids(&listed, |n| &n.id), oldest_first);

    let skipped = store
        .list_namespaces(
            &ListQuery {
                offset: Some(1),
                limit: Some(2),
                order: Some(Order::Asc),
                ..ListQuery::default()
            },
            None,
        )
        .await
        .unwrap();
    assert_eq!(ids(&skipped.items, |n| &n.id), oldest_first[1..3]);
    assert_eq!(skipped.total, 4);

    let names = async |search: &str| {
        let page = store
            .list_namespaces(&search_for(search), None)
            .await
            .unwrap();
        assert_eq!(page.total as usize, page.items.len(), "search `{search}`");
        let mut names: Vec<String> = page.items.into_iter().map(|n| n.name).collect();
        names.sort();
        names
    };
    assert_eq!(names("eta").await, ["beta"], "a name matches");
    assert_eq!(names("uptime").await, ["ops"], "a description matches");
    // Wildcards of the engine's pattern syntax are plain text in a search.
    assert_eq!(names("%").await, ["ops"]);
    assert_eq!(names("_").await, Vec::<String>::new());

    let beta = store.get_namespace("beta").await.unwrap();
    let only = store
        .list_namespaces(&ListQuery::default(), Some(&beta.id))
        .await
        .unwrap();
    assert_eq!(
        (ids(&only.items, |n| &n.id), only.total),
        (vec![beta.id], 1)
    );
}

pub async fn missing_namespaces_are_not_found_by_their_key(store: &dyn Store) {
    assert_not_found(store.get_namespace("nowhere").await, "namespace", "nowhere");
    let never_created = namespace("ghost", "");
    assert_not_found(
        store.get_namespace(&never_created.id).await,
        "namespace",
        &never_created.id,
    );
    assert_not_found(
        store.update_namespace(&never_created).await,
        "namespace",
        &never_created.id,
    );
    assert_not_found(
        store.delete_namespace(&never_created.id).await,
        "namespace",
        &never_created.id,
    );
}

pub async fn a_namespace_holding_functions_is_not_deleted(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    assert_conflict(store.delete_namespace(&ns.id).await);
    assert_eq!(store.get_namespace(&ns.id).await.unwrap(), ns);
    assert_eq!(store.get_function_by_id(&f.id).await.unwrap(), f);

    store.delete_function(&f.id).await.unwrap();
    store.delete_namespace(&ns.id).await.unwrap();
    assert_not_found(store.get_namespace(&ns.id).await, "namespace", &ns.id);
}

// Functions.

pub async fn functions_are_found_by_name_and_by_id(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let other = created_namespace(store, "blog").await;
    let f = created_function(store, &ns, "checkout").await;
    assert_eq!(store.get_function(&ns.id, "checkout").await.unwrap(), f);
    assert_eq!(store.get_function(&ns.id, &f.id).await.unwrap(), f);
    assert_eq!(store.get_function_by_id(&f.id).await.unwrap(), f);
    // A name is looked up within its namespace only.
    assert_not_found(
        store.get_function(&other.id, "checkout").await,
        "function",
        "checkout",
    );
    assert_not_found(
        store.get_function(&other.id, &f.id).await,
        "function",
        &f.id,
    );
}

pub async fn function_names_are_unique_within_a_namespace(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let other = created_namespace(store, "blog").await;
    let first = created_function(store, &ns, "render").await;
    assert_conflict(store.create_function(&function(&ns, "render")).await);
    assert_eq!(store.get_function(&ns.id, "render").await.unwrap(), first);

    let elsewhere = created_function(store, &other, "render").await;
    assert_ne!(elsewhere.id, first.id);
    assert_eq!(
        store.get_function(&other.id, "render").await.unwrap(),
        elsewhere
    );
}

pub async fn functions_list_per_namespace_in_pages_with_search(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let other = created_namespace(store, "blog").await;
    let mut ours = Vec::new();
    for name in ["cart", "pay-card", "pay-bank"] {
        ours.push(created_function(store, &ns, name).await.id);
    }
    created_function(store, &other, "pay-later").await;
    ours.sort();
    let listed = all_pages(1, Order::Asc, 3, async |q| {
        store
            .list_functions(&ns.id, &q, &FunctionFilter::default())
            .await
    })
    .await;
    assert_eq!(ids(&listed, |f| &f.id), ours);

    let found = store
        .list_functions(&ns.id, &search_for("pay"), &FunctionFilter::default())
        .await
        .unwrap();
    let mut names: Vec<&str> = found.items.iter().map(|f| f.name.as_str()).collect();
    names.sort();
    assert_eq!((names, found.total), (vec!["pay-bank", "pay-card"], 2));
}

pub async fn functions_are_filtered_by_runtime_and_status(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let other = created_namespace(store, "blog").await;
    let mut made = BTreeMap::new();
    for (name, runtime, status) in [
        ("cart", RuntimeId::Wasm, FunctionStatus::Ready),
        ("pay-card", RuntimeId::Python311, FunctionStatus::Ready),
        ("pay-bank", RuntimeId::Python311, FunctionStatus::Error),
        ("refund", RuntimeId::Node20, FunctionStatus::Created),
    ] {
        let mut f = function(&ns, name);
        f.runtime = runtime;
        f.serial = store.create_function(&f).await.unwrap();
        f.status = status;
        store.update_function_state(&f).await.unwrap();
        made.insert(name, f);
    }
    // Another namespace's Python function is never listed here.
    let mut elsewhere = function(&other, "pay-later");
    elsewhere.runtime = RuntimeId::Python311;
    store.create_function(&elsewhere).await.unwrap();

    let names = async |query: &ListQuery, runtime, status| {
        let page = store
            .list_functions(&ns.id, query, &FunctionFilter { runtime, status })
            .await
            .unwrap();
        let mut names: Vec<String> = page.items.into_iter().map(|f| f.name).collect();
        names.sort();
        (names, page.total)
    };
    let all = ListQuery::default();
    assert_eq!(
        names(&all, Some(RuntimeId::Python311), None).await,
        (vec!["pay-bank".into(), "pay-card".into()], 2)
    );
    assert_eq!(
        names(&all, None, Some(FunctionStatus::Ready)).await,
        (vec!["cart".into(), "pay-card".into()], 2)
    );
    assert_eq!(
        names(
            &all,
            Some(RuntimeId::Python311),
            Some(FunctionStatus::Error)
        )
        .await,
        (vec!["pay-bank".into()], 1)
    );
    assert_eq!(
        names(&all, Some(RuntimeId::Wasm), Some(FunctionStatus::Error)).await,
        (vec![], 0)
    );
    // With the search, and in pages whose total counts every match.
    assert_eq!(
        names(&search_for("pay"), None, Some(FunctionStatus::Ready)).await,
        (vec!["pay-card".into()], 1)
    );
    let first = names(
        &ListQuery {
            limit: Some(1),
            ..ListQuery::default()
        },
        Some(RuntimeId::Python311),
        None,
    )
    .await;
    assert_eq!((first.0.len(), first.1), (1, 2));
    // A state change moves a function between the filters.
    let mut refund = made["refund"].clone();
    refund.status = FunctionStatus::Ready;
    store.update_function_state(&refund).await.unwrap();
    assert_eq!(names(&all, None, Some(FunctionStatus::Ready)).await.1, 3);
}

pub async fn updating_configuration_keeps_the_build_state(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let d = deployment(&f, DeploymentStatus::Ready, "aa");
    store.create_deployment(&d).await.unwrap();
    let built = Function {
        status: FunctionStatus::Ready,
        active_deployment: Some(d.id.clone()),
        build_message: Some("built in 2s".into()),
        ready_at: Some(base_time()),
        ..f.clone()
    };
    store.update_function_state(&built).await.unwrap();

    // A settings change read before the build finished.
    let configured = Function {
        memory_mb: 512,
        description: "takes payments".into(),
        env: BTreeMap::from([("MODE".into(), "live".into())]),
        secrets: BTreeMap::from([("API_KEY".into(), "rotated".into())]),
        ..f.clone()
    };
    store.update_function(&configured).await.unwrap();

    let stored = store.get_function_by_id(&f.id).await.unwrap();
    assert_eq!(
        (stored.memory_mb, stored.description.as_str()),
        (512, "takes payments")
    );
    assert_eq!(
        (&stored.env, &stored.secrets),
        (&configured.env, &configured.secrets)
    );
    assert_eq!(stored.status, FunctionStatus::Ready);
    assert_eq!(stored.active_deployment, Some(d.id));
    assert_eq!(stored.build_message.as_deref(), Some("built in 2s"));
    assert_eq!(stored.ready_at, Some(base_time()));
}

pub async fn updating_the_build_state_keeps_the_configuration(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let configured = Function {
        timeout_s: 90,
        tags: vec!["billing".into()],
        secrets: BTreeMap::from([("API_KEY".into(), "rotated".into())]),
        ..f.clone()
    };
    store.update_function(&configured).await.unwrap();

    // A build that read the function before the settings changed.
    let failed = Function {
        status: FunctionStatus::Error,
        error_message: Some("the build failed: no handler".into()),
        build_message: Some("failed after 1s".into()),
        ..f.clone()
    };
    store.update_function_state(&failed).await.unwrap();

    let stored = store.get_function_by_id(&f.id).await.unwrap();
    assert_eq!(
        Function {
            status: failed.status,
            error_message: failed.error_message.clone(),
            build_message: failed.build_message.clone(),
            updated_at: stored.updated_at,
            ..configured
        },
        stored
    );
}

pub async fn missing_functions_are_not_found_by_their_id(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let never_created = function(&ns, "ghost");
    let id = never_created.id.as_str();
    assert_not_found(store.get_function_by_id(id).await, "function", id);
    assert_not_found(store.update_function(&never_created).await, "function", id);
    assert_not_found(
        store.update_function_state(&never_created).await,
        "function",
        id,
    );
    assert_not_found(store.delete_function(id).await, "function", id);
}

pub async fn deleting_a_function_removes_what_belongs_to_it(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let doomed = created_function(store, &ns, "doomed").await;
    let kept = created_function(store, &ns, "kept").await;
    let mut belongings = Vec::new();
    for (serial, f, sha256) in [(1, &doomed, "d0"), (3, &kept, "k0")] {
        let d = deployment(f, DeploymentStatus::Building, sha256);
        store.create_deployment(&d).await.unwrap();
        let t = trigger(f, TriggerKind::Event, TriggerOrigin::Api);
        store.create_trigger(&t).await.unwrap();
        let queued = execution(f, base_time(), serial, ExecutionStatus::Queued);
        let done = execution(f, base_time(), serial + 1, ExecutionStatus::Completed);
        put(store, vec![queued.clone(), done]).await;
        belongings.push((d, t, queued));
    }
    let [(doomed_d, doomed_t, doomed_e), (kept_d, kept_t, kept_e)] = belongings.try_into().unwrap();

    store.delete_function(&doomed.id).await.unwrap();

    assert_not_found(
        store.get_function_by_id(&doomed.id).await,
        "function",
        &doomed.id,
    );
    assert_not_found(
        store.get_deployment(&doomed.id, &doomed_d.id).await,
        "deployment",
        &doomed_d.id,
    );
    assert_not_found(
        store.get_trigger(&doomed.id, &doomed_t.id).await,
        "trigger",
        &doomed_t.id,
    );
    assert_not_found(
        store.get_execution(&doomed.id, &doomed_e.id).await,
        "execution",
        &doomed_e.id,
    );
    let none = ListQuery::default();
    let every = ExecutionFilter::default();
    assert_eq!(
        store
            .list_deployments(&doomed.id, &none)
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store.list_triggers(&doomed.id, &none).await.unwrap().total,
        0
    );
    assert_eq!(
        store
            .list_executions(&doomed.id, &none, &every)
            .await
            .unwrap()
            .total,
        0
    );
    assert!(!store.blob_in_use("d0").await.unwrap());

    // The other function keeps everything.
    assert_eq!(
        store.all_functions().await.unwrap(),
        std::slice::from_ref(&kept)
    );
    assert_eq!(store.unfinished_deployments().await.unwrap(), [kept_d]);
    assert_eq!(store.all_triggers().await.unwrap(), [kept_t]);
    assert_eq!(store.queued_counts().await.unwrap(), [(kept.id.clone(), 1)]);
    assert_eq!(
        store.queued_executions(None, None, 10).await.unwrap(),
        [kept_e]
    );
    assert_eq!(
        store
            .list_executions(&kept.id, &none, &every)
            .await
            .unwrap()
            .total,
        2
    );
}

// Deployments.

pub async fn unfinished_deployments_are_those_still_building(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let mut waiting = deployment(&f, DeploymentStatus::Waiting, "aa");
    let building = deployment(&g, DeploymentStatus::Building, "bb");
    let ready = deployment(&f, DeploymentStatus::Ready, "cc");
    let failed = deployment(&g, DeploymentStatus::Failed, "dd");
    for d in [&waiting, &building, &ready, &failed] {
        store.create_deployment(d).await.unwrap();
    }
    assert_eq!(
        sorted_by_id(store.unfinished_deployments().await.unwrap(), |d| &d.id),
        sorted_by_id(vec![waiting.clone(), building.clone()], |d| &d.id)
    );

    waiting.status = DeploymentStatus::Ready;
    waiting.build_log = "compiled\n".into();
    waiting.build_duration_ms = Some(1200);
    store.update_deployment(&waiting).await.unwrap();
    assert_eq!(
        store.get_deployment(&f.id, &waiting.id).await.unwrap(),
        waiting
    );
    assert_eq!(
        store.unfinished_deployments().await.unwrap(),
        std::slice::from_ref(&building)
    );

    let broke = Deployment {
        status: DeploymentStatus::Failed,
        error_message: Some("no .wasm in the archive".into()),
        ..building
    };
    store.update_deployment(&broke).await.unwrap();
    assert!(store.unfinished_deployments().await.unwrap().is_empty());
    assert_eq!(store.get_deployment(&g.id, &broke.id).await.unwrap(), broke);
}

pub async fn uploads_in_progress_are_kept_apart_from_builds(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let mut upload = Deployment {
        sha256: String::new(),
        wasm_sha256: None,
        size: 12 * 1024 * 1024,
        received: 5 * 1024 * 1024,
        ..deployment(&f, DeploymentStatus::Uploading, "")
    };
    let other_upload = Deployment {
        sha256: String::new(),
        received: 1,
        ..deployment(&g, DeploymentStatus::Uploading, "")
    };
    let waiting = deployment(&g, DeploymentStatus::Waiting, "bb");
    let ready = deployment(&f, DeploymentStatus::Ready, "cc");
    for d in [&upload, &other_upload, &waiting, &ready] {
        store.create_deployment(d).await.unwrap();
    }
    assert_eq!(
        store.get_deployment(&f.id, &upload.id).await.unwrap(),
        upload
    );
    // Nothing builds an upload in progress, not even after a restart.
    assert_eq!(
        store.unfinished_deployments().await.unwrap(),
        std::slice::from_ref(&waiting)
    );
    assert_eq!(
        store.uploading_deployments().await.unwrap(),
        sorted_by_id(vec![upload.clone(), other_upload.clone()], |d| &d.id)
    );
    assert_eq!(
        store
            .list_deployments(&f.id, &ListQuery::default())
            .await
            .unwrap()
            .total,
        2,
        "an upload in progress is listed with its function's deployments"
    );

    // The next chunk arrives.
    upload.received += 5 * 1024 * 1024;
    upload.updated_at += Duration::seconds(3);
    store.update_deployment(&upload).await.unwrap();
    assert_eq!(
        store.get_deployment(&f.id, &upload.id).await.unwrap(),
        upload
    );

    // The last one: the upload becomes a blob and waits for its build.
    upload.received = upload.size;
    upload.sha256 = "dd".into();
    upload.status = DeploymentStatus::Waiting;
    store.update_deployment(&upload).await.unwrap();
    assert_eq!(
        store.uploading_deployments().await.unwrap(),
        std::slice::from_ref(&other_upload)
    );
    assert_eq!(
        sorted_by_id(store.unfinished_deployments().await.unwrap(), |d| &d.id),
        sorted_by_id(vec![waiting.clone(), upload.clone()], |d| &d.id)
    );

    store.delete_deployment(&other_upload.id).await.unwrap();
    assert!(store.uploading_deployments().await.unwrap().is_empty());
}

pub async fn deployments_are_read_listed_and_deleted_per_function(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let mut ours = Vec::new();
    for sha256 in ["a1", "a2", "a3"] {
        let d = deployment(&f, DeploymentStatus::Ready, sha256);
        store.create_deployment(&d).await.unwrap();
        ours.push(d);
    }
    let theirs = deployment(&g, DeploymentStatus::Ready, "b1");
    store.create_deployment(&theirs).await.unwrap();

    let listed = all_pages(2, Order::Desc, 3, async |q| {
        store.list_deployments(&f.id, &q).await
    })
    .await;
    let mut newest_first = sorted_by_id(ours.clone(), |d| &d.id);
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    // A deployment is read through its own function only.
    assert_not_found(
        store.get_deployment(&f.id, &theirs.id).await,
        "deployment",
        &theirs.id,
    );

    let gone = &ours[0];
    store.delete_deployment(&gone.id).await.unwrap();
    assert_not_found(
        store.get_deployment(&f.id, &gone.id).await,
        "deployment",
        &gone.id,
    );
    assert_not_found(
        store.delete_deployment(&gone.id).await,
        "deployment",
        &gone.id,
    );
    assert_not_found(store.update_deployment(gone).await, "deployment", &gone.id);
    assert_eq!(
        store
            .list_deployments(&f.id, &ListQuery::default())
            .await
            .unwrap()
            .total,
        2
    );
}

pub async fn activating_a_deployment_makes_it_the_only_active_one(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let idle = created_function(store, &ns, "idle").await;
    let first = deployment(&f, DeploymentStatus::Building, "aa");
    let second = deployment(&f, DeploymentStatus::Ready, "bb");
    for d in [&first, &second] {
        store.create_deployment(d).await.unwrap();
    }

    // A build that just finished: its deployment is saved with the activation.
    let built = Deployment {
        status: DeploymentStatus::Ready,
        build_log: "ok\n".into(),
        ..first.clone()
    };
    let serving_first = Function {
        status: FunctionStatus::Ready,
        active_deployment: Some(first.id.clone()),
        ready_at: Some(base_time()),
        ..f.clone()
    };
    store
        .activate_deployment(&serving_first, &first.id, Some(&built))
        .await
        .unwrap();
    let stored_first = store.get_deployment(&f.id, &first.id).await.unwrap();
    assert_eq!(
        stored_first,
        Deployment {
            active: true,
            ..built.clone()
        }
    );
    assert!(
        !store
            .get_deployment(&f.id, &second.id)
            .await
            .unwrap()
            .active
    );
    assert_eq!(
        store.get_function_by_id(&f.id).await.unwrap(),
        serving_first
    );
    assert_eq!(
        store.active_functions().await.unwrap(),
        [(serving_first.clone(), stored_first)],
        "a function without an active deployment is not loaded"
    );

    // A rollback to a deployment already built.
    let serving_second = Function {
        active_deployment: Some(second.id.clone()),
        ..serving_first
    };
    store
        .activate_deployment(&serving_second, &second.id, None)
        .await
        .unwrap();
    let stored_second = store.get_deployment(&f.id, &second.id).await.unwrap();
    assert_eq!(
        stored_second,
        Deployment {
            active: true,
            ..second
        }
    );
    assert_eq!(
        store.get_deployment(&f.id, &first.id).await.unwrap(),
        Deployment {
            active: false,
            ..built
        }
    );
    assert_eq!(
        store.active_functions().await.unwrap(),
        [(serving_second, stored_second)]
    );
    assert_eq!(store.get_function_by_id(&idle.id).await.unwrap(), idle);
}

pub async fn blobs_are_in_use_while_a_deployment_refers_to_them(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let d = Deployment {
        format: PackageFormat::TarGz,
        wasm_sha256: Some("inner".into()),
        built_sha256: Some("built".into()),
        ..deployment(&f, DeploymentStatus::Ready, "upload")
    };
    store.create_deployment(&d).await.unwrap();
    assert!(store.blob_in_use("upload").await.unwrap());
    assert!(store.blob_in_use("inner").await.unwrap());
    assert!(store.blob_in_use("built").await.unwrap());
    assert!(!store.blob_in_use("unrelated").await.unwrap());

    store.delete_deployment(&d.id).await.unwrap();
    assert!(!store.blob_in_use("upload").await.unwrap());
    assert!(!store.blob_in_use("inner").await.unwrap());
    assert!(!store.blob_in_use("built").await.unwrap());
}

// Tokens.

pub async fn tokens_keep_their_hash_and_never_their_secret(store: &dyn Store) {
    let shown_once = Token {
        token: Some("gust_secret_value".into()),
        ..token("deploys from CI")
    };
    store.create_token(&shown_once, "hash-1").await.unwrap();
    let kept = Token {
        token: None,
        ..shown_once.clone()
    };
    assert_eq!(store.get_token(&kept.id).await.unwrap(), kept);
    assert_eq!(
        store.all_tokens().await.unwrap(),
        [(kept.clone(), String::from("hash-1"))]
    );
    assert_conflict(store.create_token(&token("same secret"), "hash-1").await);

    let mut oldest_first = vec![kept.clone()];
    for (description, hash) in [("reader", "hash-2"), ("invoker", "hash-3")] {
        let t = token(description);
        store.create_token(&t, hash).await.unwrap();
        oldest_first.push(t);
    }
    let oldest_first = sorted_by_id(oldest_first, |t| &t.id);
    let listed = all_pages(2, Order::Asc, 3, async |q| store.list_tokens(&q).await).await;
    assert_eq!(listed, oldest_first);

    store.delete_token(&kept.id).await.unwrap();
    assert_not_found(store.get_token(&kept.id).await, "token", &kept.id);
    assert_not_found(store.delete_token(&kept.id).await, "token", &kept.id);
    assert_eq!(store.all_tokens().await.unwrap().len(), 2);
}

pub async fn token_use_is_recorded_and_only_moves_forward(store: &dyn Store) {
    let t = token("used");
    store.create_token(&t, "hash-used").await.unwrap();
    let earlier = base_time();
    let later = base_time() + Duration::minutes(5);
    store
        .record_token_use(&[(t.id.clone(), later), ("gone".into(), later)])
        .await
        .unwrap();
    assert_eq!(
        store.get_token(&t.id).await.unwrap().last_used_at,
        Some(later)
    );
    store
        .record_token_use(&[(t.id.clone(), earlier)])
        .await
        .unwrap();
    assert_eq!(
        store.get_token(&t.id).await.unwrap().last_used_at,
        Some(later),
        "an older use does not replace a newer one"
    );
    let (listed, _) = &store.all_tokens().await.unwrap()[0];
    assert_eq!(listed.last_used_at, Some(later));
}

pub async fn console_sessions_are_read_pruned_and_go_with_their_token(store: &dyn Store) {
    let t = token("console");
    store.create_token(&t, "hash-console").await.unwrap();
    let session = |hash: &str, minutes: i64| ConsoleSession {
        id_hash: hash.into(),
        token_id: t.id.clone(),
        created_at: base_time(),
        expires_at: base_time() + Duration::minutes(minutes),
    };
    let short = session("session-short", 5);
    let long = session("session-long", 60);
    store.create_console_session(&short).await.unwrap();
    store.create_console_session(&long).await.unwrap();
    assert_eq!(
        store.get_console_session("session-short").await.unwrap(),
        short
    );
    assert!(matches!(
        store.get_console_session("session-none").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .create_console_session(&ConsoleSession {
                token_id: "no-such-token".into(),
                ..session("session-orphan", 5)
            })
            .await,
        Err(StoreError::NotFound { kind: "token", .. })
    ));

    let pruned = store
        .prune_console_sessions(base_time() + Duration::minutes(5))
        .await
        .unwrap();
    assert_eq!(pruned, 1, "a session ends at its expiry");
    assert!(store.get_console_session("session-short").await.is_err());
    assert_eq!(
        store.get_console_session("session-long").await.unwrap(),
        long
    );

    store.delete_console_session("session-long").await.unwrap();
    store.delete_console_session("session-long").await.unwrap();
    assert!(store.get_console_session("session-long").await.is_err());

    store.create_console_session(&long).await.unwrap();
    store.delete_token(&t.id).await.unwrap();
    assert!(
        store.get_console_session("session-long").await.is_err(),
        "revoking a token ends its sessions"
    );
}

// Sealed secrets.

pub async fn secrets_are_set_and_removed_one_by_one(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let later = base_time() + Duration::hours(2);
    // Set beside the one the function was made with, replaced, removed.
    store
        .set_function_secret(&f.id, "TOKEN", Some("t-1"), later)
        .await
        .unwrap();
    store
        .set_function_secret(&f.id, "API_KEY", Some("second"), later)
        .await
        .unwrap();
    let read = store.get_function_by_id(&f.id).await.unwrap();
    assert_eq!(
        read.secrets,
        BTreeMap::from([
            ("API_KEY".to_string(), "second".to_string()),
            ("TOKEN".to_string(), "t-1".to_string())
        ])
    );
    assert_eq!(read.updated_at, later);
    assert_eq!(read.env, f.env, "the rest of the function is as it was");
    store
        .set_function_secret(&f.id, "API_KEY", None, later)
        .await
        .unwrap();
    // Removing one that is not there changes nothing.
    store
        .set_function_secret(&f.id, "NEVER_SET", None, later)
        .await
        .unwrap();
    let read = store.get_function_by_id(&f.id).await.unwrap();
    assert_eq!(
        read.secrets,
        BTreeMap::from([("TOKEN".to_string(), "t-1".to_string())])
    );

    // Many at once, each its own: none is lost.
    let sets = (0..20).map(|i| {
        let id = ns.id.clone();
        async move {
            store
                .set_namespace_secret(&id, &format!("K{i}"), Some(&format!("v{i}")), later)
                .await
        }
    });
    for result in futures_util::future::join_all(sets).await {
        result.unwrap();
    }
    let read = store.get_namespace(&ns.id).await.unwrap();
    for i in 0..20 {
        assert_eq!(read.secrets[&format!("K{i}")], format!("v{i}"));
    }

    // At the most a map holds, a new one is refused and a present one still replaced.
    for i in read.secrets.len()..gust_core::validate::MAX_ENV_VARS {
        store
            .set_namespace_secret(&ns.id, &format!("FILL{i}"), Some("x"), later)
            .await
            .unwrap();
    }
    assert_conflict(
        store
            .set_namespace_secret(&ns.id, "ONE_TOO_MANY", Some("x"), later)
            .await,
    );
    store
        .set_namespace_secret(&ns.id, "K0", Some("again"), later)
        .await
        .unwrap();
    let read = store.get_namespace(&ns.id).await.unwrap();
    assert_eq!(read.secrets.len(), gust_core::validate::MAX_ENV_VARS);
    assert_eq!(read.secrets["K0"], "again");
    assert!(matches!(
        store
            .set_function_secret("no-such-function", "A", Some("x"), later)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn secrets_read_back_through_a_key_rotation(store: &dyn Store) {
    let ns = Namespace {
        secrets: BTreeMap::from([("SHARED".into(), "ns-secret".into())]),
        ..namespace("shop", "")
    };
    store.create_namespace(&ns).await.unwrap();
    let f = created_function(store, &ns, "checkout").await;
    let d = deployment(&f, DeploymentStatus::Ready, "code");
    store.create_deployment(&d).await.unwrap();
    let v = created_version(store, &f, &d.id).await;
    let saved = store
        .put_test_request(
            &f.id,
            &TestRequestSpec {
                name: Some("signed-in".into()),
                headers: Some(BTreeMap::from([(
                    "authorization".into(),
                    "Bearer t".into(),
                )])),
                ..TestRequestSpec::default()
            }
            .into_test_request()
            .unwrap(),
            true,
            10,
        )
        .await
        .unwrap();
    let first = store.keyring().active_id();
    assert_eq!(store.sealing_key_ids().await.unwrap(), [first]);

    let second = crate::MasterKey::generate(first + 1);
    store.begin_rotation(second).await.unwrap();
    assert_eq!(store.keyring().active_id(), first + 1);
    assert_eq!(
        store.sealing_key_ids().await.unwrap(),
        [first, first + 1],
        "both keys are listed while values may be under either"
    );
    // Old values still open; new ones seal under the new key.
    assert_eq!(
        store.get_namespace(&ns.id).await.unwrap().secrets,
        ns.secrets
    );
    let mut changed = store.get_function_by_id(&f.id).await.unwrap();
    changed.secrets.insert("ADDED".into(), "after".into());
    store.update_function(&changed).await.unwrap();

    let resealed = store.reseal_secrets().await.unwrap();
    assert_eq!(
        resealed, 3,
        "the namespace, the version and the test request; the function was new"
    );
    assert_eq!(store.reseal_secrets().await.unwrap(), 0);
    assert_eq!(store.retire_keys().await.unwrap(), [first]);
    assert_eq!(store.keyring().ids(), [first + 1]);
    assert_eq!(store.sealing_key_ids().await.unwrap(), [first + 1]);

    assert_eq!(
        store.get_namespace(&ns.id).await.unwrap().secrets,
        ns.secrets
    );
    assert_eq!(
        store.get_function_by_id(&f.id).await.unwrap().secrets,
        changed.secrets
    );
    assert_eq!(
        store
            .get_version(&f.id, v.number)
            .await
            .unwrap()
            .config
            .secrets,
        v.config.secrets
    );
    assert_eq!(
        store.all_functions().await.unwrap()[0].secrets,
        changed.secrets
    );
    assert_eq!(
        store.get_test_request(&f.id, "signed-in").await.unwrap(),
        saved
    );
    let rotated_twice = crate::MasterKey::generate(first + 1);
    assert!(
        store.begin_rotation(rotated_twice).await.is_err(),
        "a key id is never given twice"
    );
}

pub async fn a_rotation_is_finished_only_by_retiring_the_old_keys(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let first = store.keyring().active_id();
    store
        .begin_rotation(crate::MasterKey::generate(first + 1))
        .await
        .unwrap();
    // Interrupted before resealing: retiring reseals what is left, in its own transaction.
    assert_eq!(store.retire_keys().await.unwrap(), [first]);
    assert_eq!(
        store.get_function_by_id(&f.id).await.unwrap().secrets,
        f.secrets
    );
    assert_eq!(store.retire_keys().await.unwrap(), Vec::<u32>::new());
}

// The audit log.

pub async fn the_audit_log_lists_newest_first_filtered_and_paged(store: &dyn Store) {
    use gust_core::{AuditAction, AuditEntry, AuditOutcome, AuditQuery};
    let entry = |n: i64, kind: &str, token: &str| AuditEntry {
        id: 0,
        at: base_time() + Duration::seconds(n),
        token_id: Some(token.into()),
        action: AuditAction::Create,
        resource_kind: kind.into(),
        resource_id: Some(format!("{kind}-{n}")),
        namespace_id: Some("ns".into()),
        client_addr: (n % 2 == 0).then(|| "192.0.2.7".to_string()),
        outcome: if n == 3 {
            AuditOutcome::Error
        } else {
            AuditOutcome::Ok
        },
        status: if n == 3 { 404 } else { 201 },
        error: (n == 3).then(|| "not_found".to_string()),
    };
    let batch: Vec<AuditEntry> = (0..5)
        .map(|n| entry(n, if n < 3 { "function" } else { "token" }, "t1"))
        .collect();
    store.append_audit(&batch).await.unwrap();
    store
        .append_audit(&[entry(5, "function", "t2")])
        .await
        .unwrap();
    store.append_audit(&[]).await.unwrap();

    let all = store.list_audit(&AuditQuery::default()).await.unwrap();
    assert_eq!(all.total, 6);
    let times: Vec<_> = all.items.iter().map(|e| e.at).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "newest first");
    let mut expected = entry(3, "token", "t1");
    expected.id = all.items[2].id;
    assert_eq!(all.items[2], expected);

    let mut seen = Vec::new();
    let mut query = AuditQuery {
        limit: Some(2),
        resource_kind: Some("function".into()),
        ..AuditQuery::default()
    };
    loop {
        let page = store.list_audit(&query).await.unwrap();
        assert_eq!(page.total, 4);
        seen.extend(page.items.iter().map(|e| e.resource_id.clone().unwrap()));
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => break,
        }
    }
    assert_eq!(
        seen,
        ["function-5", "function-2", "function-1", "function-0"]
    );

    let by_token = store
        .list_audit(&AuditQuery {
            token_id: Some("t2".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_token.items.len(), 1);
    let by_resource = store
        .list_audit(&AuditQuery {
            resource_kind: Some("token".into()),
            resource_id: Some("token-4".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(by_resource.items.len(), 1);
    assert_eq!(by_resource.items[0].at, base_time() + Duration::seconds(4));
}

// Triggers.

pub async fn triggers_are_read_updated_and_deleted_per_function(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let cron = trigger(&f, TriggerKind::Cron, TriggerOrigin::Api);
    let event = trigger(&f, TriggerKind::Event, TriggerOrigin::Api);
    let theirs = trigger(&g, TriggerKind::Event, TriggerOrigin::Api);
    for t in [&cron, &event, &theirs] {
        store.create_trigger(t).await.unwrap();
    }
    assert_eq!(store.get_trigger(&f.id, &cron.id).await.unwrap(), cron);
    assert_eq!(store.get_trigger(&f.id, &event.id).await.unwrap(), event);
    assert_not_found(
        store.get_trigger(&f.id, &theirs.id).await,
        "trigger",
        &theirs.id,
    );
    let listed = all_pages(1, Order::Asc, 2, async |q| {
        store.list_triggers(&f.id, &q).await
    })
    .await;
    assert_eq!(
        listed,
        sorted_by_id(vec![cron.clone(), event.clone()], |t| &t.id)
    );

    // The scheduler records each tick it fired.
    let fired = FunctionTrigger {
        last_run_at: Some(base_time()),
        next_run_at: Some(base_time() + Duration::minutes(5)),
        ..cron.clone()
    };
    store.update_trigger(&fired).await.unwrap();
    assert_eq!(store.get_trigger(&f.id, &cron.id).await.unwrap(), fired);

    store.delete_trigger(&cron.id).await.unwrap();
    assert_not_found(
        store.get_trigger(&f.id, &cron.id).await,
        "trigger",
        &cron.id,
    );
    assert_not_found(store.delete_trigger(&cron.id).await, "trigger", &cron.id);
    assert_not_found(store.update_trigger(&fired).await, "trigger", &cron.id);
    assert_eq!(
        sorted_by_id(store.all_triggers().await.unwrap(), |t| &t.id),
        sorted_by_id(vec![event, theirs], |t| &t.id)
    );
}

pub async fn replacing_triggers_touches_only_that_origin_of_that_function(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let by_api = trigger(&f, TriggerKind::Cron, TriggerOrigin::Api);
    let from_field = trigger(&f, TriggerKind::Event, TriggerOrigin::Function);
    let other_function = trigger(&g, TriggerKind::Cron, TriggerOrigin::Function);
    for t in [&by_api, &from_field, &other_function] {
        store.create_trigger(t).await.unwrap();
    }

    let schedule = trigger(&f, TriggerKind::Cron, TriggerOrigin::Function);
    let events = trigger(&f, TriggerKind::Event, TriggerOrigin::Function);
    store
        .replace_triggers(
            &f.id,
            TriggerOrigin::Function,
            &[schedule.clone(), events.clone()],
        )
        .await
        .unwrap();
    let listed = store
        .list_triggers(&f.id, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(
        sorted_by_id(listed.items, |t| &t.id),
        sorted_by_id(vec![by_api.clone(), schedule, events], |t| &t.id)
    );
    assert_not_found(
        store.get_trigger(&f.id, &from_field.id).await,
        "trigger",
        &from_field.id,
    );

    store
        .replace_triggers(&f.id, TriggerOrigin::Function, &[])
        .await
        .unwrap();
    assert_eq!(
        sorted_by_id(store.all_triggers().await.unwrap(), |t| &t.id),
        sorted_by_id(vec![by_api, other_function], |t| &t.id)
    );
}

// Executions.

// Custom domains.

pub async fn domains_are_read_listed_and_deleted_by_id(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let checkout = created_function(store, &shop, "checkout").await;
    let refund = created_function(store, &shop, "refund").await;
    let posts = created_function(store, &blog, "posts").await;
    let pay = created_domain(store, &checkout, "pay.example.com").await;
    let pay2 = created_domain(store, &checkout, "pay.example.org").await;
    let back = created_domain(store, &refund, "refund.example.com").await;
    let news = created_domain(store, &posts, "news.example.com").await;

    assert_eq!(store.get_domain(&pay.id).await.unwrap(), pay);
    let of_checkout = all_pages(1, Order::Asc, 2, async |q| {
        store
            .list_domains(DomainScope::Function(&checkout.id), &q)
            .await
    })
    .await;
    assert_eq!(
        of_checkout,
        sorted_by_id(vec![pay.clone(), pay2.clone()], |d| &d.id)
    );
    let of_shop = all_pages(2, Order::Desc, 3, async |q| {
        store
            .list_domains(DomainScope::Namespace(&shop.id), &q)
            .await
    })
    .await;
    let mut newest_first = sorted_by_id(vec![pay.clone(), pay2.clone(), back.clone()], |d| &d.id);
    newest_first.reverse();
    assert_eq!(of_shop, newest_first);
    let every = store
        .list_domains(DomainScope::All, &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(every.total, 4);

    store.delete_domain(&pay.id).await.unwrap();
    assert_not_found(store.get_domain(&pay.id).await, "domain", &pay.id);
    assert_not_found(store.delete_domain(&pay.id).await, "domain", &pay.id);
    assert_eq!(
        sorted_by_id(store.all_domains().await.unwrap(), |d| &d.id),
        sorted_by_id(vec![pay2, back, news], |d| &d.id)
    );
}

pub async fn a_host_name_belongs_to_one_domain_of_the_store(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let checkout = created_function(store, &shop, "checkout").await;
    let posts = created_function(store, &blog, "posts").await;
    let first = created_domain(store, &checkout, "pay.example.com").await;
    let again = domain(&posts, "pay.example.com");
    match store.create_domain(&again).await {
        Err(StoreError::Conflict(message)) => assert!(
            message.contains("pay.example.com"),
            "the conflict names the host name: {message}"
        ),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_not_found(store.get_domain(&again.id).await, "domain", &again.id);
    assert_eq!(
        store.all_domains().await.unwrap(),
        std::slice::from_ref(&first)
    );

    // Once deleted, the name is free again.
    store.delete_domain(&first.id).await.unwrap();
    store.create_domain(&again).await.unwrap();
    assert_eq!(store.all_domains().await.unwrap(), [again]);
}

pub async fn deleting_a_function_or_namespace_removes_its_domains(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let doomed = created_function(store, &shop, "doomed").await;
    let kept = created_function(store, &shop, "kept").await;
    let posts = created_function(store, &blog, "posts").await;
    let gone = created_domain(store, &doomed, "gone.example.com").await;
    let stays = created_domain(store, &kept, "stays.example.com").await;
    created_domain(store, &posts, "news.example.com").await;

    store.delete_function(&doomed.id).await.unwrap();
    assert_not_found(store.get_domain(&gone.id).await, "domain", &gone.id);
    let none = ListQuery::default();
    assert_eq!(
        store
            .list_domains(DomainScope::Function(&doomed.id), &none)
            .await
            .unwrap()
            .total,
        0
    );
    assert_eq!(
        store
            .list_domains(DomainScope::Namespace(&shop.id), &none)
            .await
            .unwrap()
            .items,
        std::slice::from_ref(&stays)
    );

    store.delete_function(&posts.id).await.unwrap();
    store.delete_namespace(&blog.id).await.unwrap();
    assert_eq!(store.all_domains().await.unwrap(), [stays]);
}

// Versions and aliases.

pub async fn versions_are_numbered_per_function_and_numbers_are_not_given_again(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let checkout = created_function(store, &shop, "checkout").await;
    let refund = created_function(store, &shop, "refund").await;
    let one = created_version(store, &checkout, "d1").await;
    let two = created_version(store, &checkout, "d2").await;
    let other = created_version(store, &refund, "d9").await;
    assert_eq!((one.number, two.number, other.number), (1, 2, 1));
    // The snapshot comes back whole, secrets with their values.
    let back = store.get_version(&checkout.id, 1).await.unwrap();
    assert_eq!(back, one);
    assert_eq!(back.config.secrets["API_KEY"], "first");
    assert_eq!(
        store.list_versions(&checkout.id).await.unwrap(),
        [one.clone(), two.clone()]
    );
    assert_eq!(
        store
            .versions_of_deployment(&checkout.id, "d2")
            .await
            .unwrap(),
        [2]
    );

    store.delete_version(&checkout.id, 2).await.unwrap();
    assert_not_found(store.get_version(&checkout.id, 2).await, "version", "2");
    assert_not_found(store.delete_version(&checkout.id, 2).await, "version", "2");
    let three = created_version(store, &checkout, "d3").await;
    assert_eq!(
        three.number, 3,
        "the number of a deleted version is not given again"
    );
    assert_eq!(
        store.list_versions(&checkout.id).await.unwrap(),
        [one, three]
    );
    let ghost = function(&shop, "ghost");
    assert_not_found(
        store.create_version(&version(&ghost, "d1"), 10).await,
        "function",
        &ghost.id,
    );
}

pub async fn a_function_has_at_most_the_versions_allowed(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let checkout = created_function(store, &shop, "checkout").await;
    for _ in 0..3 {
        store
            .create_version(&version(&checkout, "d1"), 3)
            .await
            .unwrap();
    }
    assert_conflict(store.create_version(&version(&checkout, "d1"), 3).await);
    assert_eq!(store.list_versions(&checkout.id).await.unwrap().len(), 3);
    store.delete_version(&checkout.id, 1).await.unwrap();
    let next = store
        .create_version(&version(&checkout, "d1"), 3)
        .await
        .unwrap();
    assert_eq!(next.number, 4, "the refused attempt gave no number away");
}

pub async fn aliases_are_unique_per_namespace_and_point_at_existing_versions(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let checkout = created_function(store, &shop, "checkout").await;
    let refund = created_function(store, &shop, "refund").await;
    let posts = created_function(store, &blog, "posts").await;
    created_version(store, &checkout, "d1").await;
    let prod = created_alias(store, &checkout, "prod", Some(1)).await;
    let latest = created_alias(store, &refund, "latest", None).await;
    let elsewhere = created_alias(store, &posts, "prod", None).await;
    assert_eq!(store.get_alias(&shop.id, "prod").await.unwrap(), prod);
    assert_eq!(store.get_alias(&blog.id, "prod").await.unwrap(), elsewhere);
    assert_not_found(store.get_alias(&shop.id, "nope").await, "alias", "nope");

    match store.create_alias(&alias(&refund, "prod", None)).await {
        Err(StoreError::Conflict(message)) => {
            assert!(
                message.contains("prod"),
                "the conflict names the alias: {message}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_not_found(
        store.create_alias(&alias(&checkout, "beta", Some(7))).await,
        "version",
        "7",
    );

    // Moved to another function and version, or to no version.
    let mut moved = prod.clone();
    moved.function_id = refund.id.clone();
    moved.function = refund.name.clone();
    moved.version = Some(1);
    assert_not_found(store.update_alias(&moved).await, "version", "1");
    assert_eq!(store.get_alias(&shop.id, "prod").await.unwrap(), prod);
    moved.version = None;
    store.update_alias(&moved).await.unwrap();
    assert_eq!(store.get_alias(&shop.id, "prod").await.unwrap(), moved);

    let oldest_first = ListQuery {
        order: Some(Order::Asc),
        ..ListQuery::default()
    };
    let of_shop = store
        .list_aliases(&shop.id, None, &oldest_first)
        .await
        .unwrap();
    assert_eq!(
        of_shop.items,
        sorted_by_id(vec![moved.clone(), latest.clone()], |a| &a.id)
    );
    let of_refund = store
        .list_aliases(&shop.id, Some(&refund.id), &search_for("lat"))
        .await
        .unwrap();
    assert_eq!(of_refund.items, std::slice::from_ref(&latest));
    store.delete_alias(&latest.id).await.unwrap();
    assert_not_found(store.delete_alias(&latest.id).await, "alias", &latest.id);
    assert_eq!(
        sorted_by_id(store.all_aliases().await.unwrap(), |a| &a.id),
        sorted_by_id(vec![moved, elsewhere], |a| &a.id)
    );
}

pub async fn a_version_an_alias_points_at_is_not_deleted(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let checkout = created_function(store, &shop, "checkout").await;
    created_version(store, &checkout, "d1").await;
    let mut prod = created_alias(store, &checkout, "prod", Some(1)).await;
    match store.delete_version(&checkout.id, 1).await {
        Err(StoreError::Conflict(message)) => {
            assert!(
                message.contains("prod"),
                "the conflict names the alias: {message}"
            )
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(store.get_version(&checkout.id, 1).await.is_ok());
    prod.version = None;
    store.update_alias(&prod).await.unwrap();
    store.delete_version(&checkout.id, 1).await.unwrap();
}

pub async fn deleting_a_function_removes_its_versions_and_aliases(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let doomed = created_function(store, &shop, "doomed").await;
    let kept = created_function(store, &shop, "kept").await;
    created_version(store, &doomed, "d1").await;
    created_version(store, &kept, "d2").await;
    created_alias(store, &doomed, "gone", Some(1)).await;
    let stays = created_alias(store, &kept, "stays", Some(1)).await;

    store.delete_function(&doomed.id).await.unwrap();
    assert!(store.list_versions(&doomed.id).await.unwrap().is_empty());
    assert_not_found(store.get_alias(&shop.id, "gone").await, "alias", "gone");
    assert_eq!(store.all_aliases().await.unwrap(), [stays]);
    assert_eq!(store.list_versions(&kept.id).await.unwrap().len(), 1);
}

// Webhooks.

pub async fn webhooks_are_read_listed_moved_and_deleted_by_id(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let checkout = created_function(store, &shop, "checkout").await;
    let refund = created_function(store, &shop, "refund").await;
    let posts = created_function(store, &blog, "posts").await;
    let paid = created_webhook(store, &checkout, "payment provider").await;
    let shipped = created_webhook(store, &checkout, "carrier").await;
    let returned = created_webhook(store, &refund, "").await;
    created_webhook(store, &posts, "git host").await;

    assert_eq!(store.get_webhook(&paid.id).await.unwrap(), paid);
    let of_checkout = all_pages(1, Order::Asc, 2, async |q| {
        store.list_webhooks(&shop.id, Some(&checkout.id), &q).await
    })
    .await;
    assert_eq!(
        of_checkout,
        sorted_by_id(vec![paid.clone(), shipped.clone()], |w| &w.id)
    );
    let of_shop = all_pages(2, Order::Desc, 3, async |q| {
        store.list_webhooks(&shop.id, None, &q).await
    })
    .await;
    let mut newest_first =
        sorted_by_id(vec![paid.clone(), shipped.clone(), returned.clone()], |w| {
            &w.id
        });
    newest_first.reverse();
    assert_eq!(of_shop, newest_first);

    // Moved to another function, with a new description, in one write.
    let moved = Webhook {
        function_id: refund.id.clone(),
        description: "refunds".into(),
        ..shipped.clone()
    };
    store.update_webhook(&moved).await.unwrap();
    assert_eq!(store.get_webhook(&shipped.id).await.unwrap(), moved);
    let none = ListQuery::default();
    assert_eq!(
        store
            .list_webhooks(&shop.id, Some(&refund.id), &none)
            .await
            .unwrap()
            .total,
        2
    );

    store.delete_webhook(&paid.id).await.unwrap();
    assert_not_found(store.get_webhook(&paid.id).await, "webhook", &paid.id);
    assert_not_found(store.delete_webhook(&paid.id).await, "webhook", &paid.id);
    let gone = Webhook {
        description: "never stored".into(),
        ..paid.clone()
    };
    assert_not_found(store.update_webhook(&gone).await, "webhook", &paid.id);
}

pub async fn deleting_a_function_removes_its_webhooks(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let doomed = created_function(store, &shop, "doomed").await;
    let kept = created_function(store, &shop, "kept").await;
    let gone = created_webhook(store, &doomed, "").await;
    let stays = created_webhook(store, &kept, "").await;

    store.delete_function(&doomed.id).await.unwrap();
    assert_not_found(store.get_webhook(&gone.id).await, "webhook", &gone.id);
    assert_eq!(
        store
            .list_webhooks(&shop.id, None, &ListQuery::default())
            .await
            .unwrap()
            .items,
        [stays]
    );
}

// Per-minute aggregates.

fn minute(function: &Function, at: &str, requests: u64, durations: &[u64]) -> MinuteAggregate {
    let mut m = MinuteAggregate {
        function_id: function.id.clone(),
        namespace_id: function.namespace_id.clone(),
        minute: at.parse().unwrap(),
        requests,
        errors: requests / 2,
        cold_starts: 1,
        instances: requests as u32,
        ..Default::default()
    };
    for us in durations {
        m.durations.record(*us);
    }
    m
}

pub async fn minutes_add_up_per_function_and_minute(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let other = created_function(store, &ns, "other").await;
    let since: DateTime<Utc> = "2026-03-10T12:00:00Z".parse().unwrap();
    store
        .add_function_minutes(&[
            minute(&f, "2026-03-10T12:00:00Z", 2, &[100, 200]),
            minute(&f, "2026-03-10T12:01:00Z", 1, &[300]),
            minute(&other, "2026-03-10T12:00:00Z", 5, &[1]),
        ])
        .await
        .unwrap();
    // The same minute again (a flush after a restart within it): added, not replaced.
    let mut sampled = minute(&f, "2026-03-10T12:00:00Z", 4, &[400]);
    sampled.namespace_id = String::new();
    store.add_function_minutes(&[sampled]).await.unwrap();

    let minutes = store.function_minutes(&f.id, since).await.unwrap();
    assert_eq!(minutes.len(), 2);
    let first = &minutes[0];
    assert_eq!(first.minute, since);
    assert_eq!(first.namespace_id, ns.id);
    assert_eq!(
        (
            first.requests,
            first.errors,
            first.cold_starts,
            first.instances
        ),
        (6, 3, 2, 4)
    );
    assert_eq!(first.durations.count(), 3);
    assert_eq!(first.durations.quantile(1.0), Some(400));
    assert_eq!(minutes[1].requests, 1);
    let later = store
        .function_minutes(&f.id, "2026-03-10T12:01:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(later.len(), 1);

    // A function that no longer exists adds nothing, and fails nothing else.
    let mut ghost = minute(&f, "2026-03-10T12:00:00Z", 9, &[]);
    ghost.function_id = gust_core::new_id();
    store
        .add_function_minutes(&[
            ghost.clone(),
            minute(&other, "2026-03-10T12:02:00Z", 1, &[]),
        ])
        .await
        .unwrap();
    assert!(
        store
            .function_minutes(&ghost.function_id, since)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .function_minutes(&other.id, since)
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn activity_sums_a_namespaces_minutes_since_a_time(store: &dyn Store) {
    let shop = created_namespace(store, "shop").await;
    let blog = created_namespace(store, "blog").await;
    let a = created_function(store, &shop, "a").await;
    let b = created_function(store, &shop, "b").await;
    let idle = created_function(store, &shop, "idle").await;
    let elsewhere = created_function(store, &blog, "elsewhere").await;
    let mut only_instances = minute(&idle, "2026-03-10T12:00:00Z", 0, &[]);
    only_instances.instances = 2;
    store
        .add_function_minutes(&[
            minute(&a, "2026-03-10T11:00:00Z", 100, &[]),
            minute(&a, "2026-03-10T12:00:00Z", 3, &[]),
            minute(&a, "2026-03-10T12:05:00Z", 4, &[]),
            minute(&b, "2026-03-10T12:10:00Z", 1, &[]),
            only_instances,
            minute(&elsewhere, "2026-03-10T12:00:00Z", 8, &[]),
        ])
        .await
        .unwrap();
    let mut expected = vec![
        FunctionActivity {
            function_id: a.id.clone(),
            requests: 7,
            errors: 3,
        },
        FunctionActivity {
            function_id: b.id.clone(),
            requests: 1,
            errors: 0,
        },
    ];
    expected.sort_by(|x, y| x.function_id.cmp(&y.function_id));
    let activity = store
        .namespace_activity(&shop.id, "2026-03-10T12:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(activity, expected);
}

pub async fn old_minutes_are_pruned_and_a_deleted_functions_minutes_go_with_it(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let doomed = created_function(store, &ns, "doomed").await;
    store
        .add_function_minutes(&[
            minute(&f, "2026-03-01T00:00:00Z", 1, &[]),
            minute(&f, "2026-03-09T00:00:00Z", 2, &[]),
            minute(&f, "2026-03-10T00:00:00Z", 3, &[]),
            minute(&doomed, "2026-03-10T00:00:00Z", 3, &[]),
        ])
        .await
        .unwrap();
    let pruned = store
        .prune_function_minutes("2026-03-09T00:00:00Z".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(pruned, 1);
    let epoch = DateTime::<Utc>::UNIX_EPOCH;
    let left: Vec<u64> = store
        .function_minutes(&f.id, epoch)
        .await
        .unwrap()
        .iter()
        .map(|m| m.requests)
        .collect();
    assert_eq!(left, [2, 3]);
    store.delete_function(&doomed.id).await.unwrap();
    assert!(
        store
            .function_minutes(&doomed.id, epoch)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .namespace_activity(&ns.id, epoch)
            .await
            .unwrap()
            .iter()
            .all(|a| a.function_id == f.id)
    );
}

// Saved test requests.

fn test_request(name: &str, body: &str) -> TestRequest {
    TestRequestSpec {
        name: Some(name.into()),
        method: Some("POST".into()),
        path: Some("/orders".into()),
        body: Some(body.into()),
        ..Default::default()
    }
    .into_test_request()
    .unwrap()
}

pub async fn test_requests_are_unique_per_function_and_capped(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let other = created_function(store, &ns, "other").await;
    let first = store
        .put_test_request(&f.id, &test_request("smoke", "one"), true, 3)
        .await
        .unwrap();
    assert_eq!(store.get_test_request(&f.id, "smoke").await.unwrap(), first);
    // Creating a name taken is refused; the same name in another function is another request.
    assert_conflict(
        store
            .put_test_request(&f.id, &test_request("smoke", "two"), true, 3)
            .await,
    );
    store
        .put_test_request(&other.id, &test_request("smoke", "other"), true, 3)
        .await
        .unwrap();
    // Replaced: its first creation time is kept.
    let mut again = test_request("smoke", "two");
    again.created_at += Duration::seconds(5);
    let replaced = store
        .put_test_request(&f.id, &again, false, 3)
        .await
        .unwrap();
    assert_eq!(replaced.created_at, first.created_at);
    assert_eq!(replaced.body, "two");
    assert_eq!(
        store.get_test_request(&f.id, "smoke").await.unwrap(),
        replaced
    );

    store
        .put_test_request(&f.id, &test_request("b", ""), true, 3)
        .await
        .unwrap();
    store
        .put_test_request(&f.id, &test_request("a", ""), false, 3)
        .await
        .unwrap();
    // At the cap: a new name is refused, a name it has may still be replaced.
    assert_conflict(
        store
            .put_test_request(&f.id, &test_request("d", ""), false, 3)
            .await,
    );
    store
        .put_test_request(&f.id, &test_request("a", "x"), false, 3)
        .await
        .unwrap();
    let names: Vec<String> = store
        .list_test_requests(&f.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["a", "b", "smoke"]);

    store.delete_test_request(&f.id, "b").await.unwrap();
    assert_not_found(
        store.get_test_request(&f.id, "b").await,
        "test request",
        "b",
    );
    assert_not_found(
        store.delete_test_request(&f.id, "b").await,
        "test request",
        "b",
    );
    assert_not_found(
        store
            .put_test_request("no-such-function", &test_request("x", ""), true, 3)
            .await,
        "function",
        "no-such-function",
    );
    assert_eq!(store.list_test_requests(&other.id).await.unwrap().len(), 1);
}

pub async fn deleting_a_function_removes_its_test_requests(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let doomed = created_function(store, &ns, "doomed").await;
    let kept = created_function(store, &ns, "kept").await;
    for f in [&doomed, &kept] {
        store
            .put_test_request(&f.id, &test_request("smoke", ""), true, 50)
            .await
            .unwrap();
    }
    store.delete_function(&doomed.id).await.unwrap();
    assert!(
        store
            .list_test_requests(&doomed.id)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.list_test_requests(&kept.id).await.unwrap().len(), 1);
}

pub async fn executions_are_put_replaced_and_read_per_function(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let run = completed_run(&f, base_time(), 1);
    let theirs = completed_run(&g, base_time(), 2);
    put(store, vec![run.clone(), theirs.clone()]).await;
    assert_eq!(store.get_execution(&f.id, &run.id).await.unwrap(), run);
    assert_eq!(
        store.get_execution(&g.id, &theirs.id).await.unwrap(),
        theirs
    );
    assert_not_found(
        store.get_execution(&f.id, &theirs.id).await,
        "execution",
        &theirs.id,
    );

    // The recorder writes a record again when it learns more about the run.
    let failed = Execution {
        status: ExecutionStatus::Failed,
        error_message: Some("the handler raised".into()),
        response: None,
        logs: ExecutionLogs {
            stderr: "Traceback\n".into(),
            truncated: true,
            ..ExecutionLogs::default()
        },
        ..run.clone()
    };
    put(store, vec![failed.clone()]).await;
    assert_eq!(store.get_execution(&f.id, &run.id).await.unwrap(), failed);
    let listed = store
        .list_executions(&f.id, &ListQuery::default(), &ExecutionFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.items, [failed]);
}

pub async fn finished_executions_are_deleted_and_unfinished_ones_kept(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let done = completed_run(&f, base_time(), 1);
    let running = Execution {
        status: ExecutionStatus::Running,
        ..completed_run(&f, base_time(), 2)
    };
    let queued = Execution {
        status: ExecutionStatus::Queued,
        ..completed_run(&f, base_time(), 3)
    };
    put(store, vec![done.clone(), running.clone(), queued.clone()]).await;

    // Another function's id does not reach it.
    assert_not_found(
        store.delete_execution(&g.id, &done.id).await,
        "execution",
        &done.id,
    );
    store.delete_execution(&f.id, &done.id).await.unwrap();
    assert_not_found(
        store.get_execution(&f.id, &done.id).await,
        "execution",
        &done.id,
    );
    for unfinished in [&running, &queued] {
        let err = store
            .delete_execution(&f.id, &unfinished.id)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
        assert_eq!(
            &store.get_execution(&f.id, &unfinished.id).await.unwrap(),
            unfinished
        );
    }
}

pub async fn an_idempotency_key_admits_one_execution_per_function(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let keyed = |function: &Function, serial: u64, key: Option<&str>| Execution {
        idempotency_key: key.map(str::to_string),
        ..execution(function, base_time(), serial, ExecutionStatus::Queued)
    };
    let first = keyed(&f, 1, Some("order-7"));
    let repeat = keyed(&f, 2, Some("order-7"));
    let other_key = keyed(&f, 3, Some("order-8"));
    let unkeyed = keyed(&f, 4, None);
    let also_unkeyed = keyed(&f, 5, None);
    let same_key_elsewhere = keyed(&g, 6, Some("order-7"));
    let results = insert(
        store,
        vec![
            first.clone(),
            repeat.clone(),
            other_key.clone(),
            unkeyed.clone(),
            also_unkeyed.clone(),
            same_key_elsewhere.clone(),
        ],
    )
    .await;
    assert_eq!(
        results,
        [
            (first.clone(), true),
            (first.clone(), false),
            (other_key, true),
            (unkeyed, true),
            (also_unkeyed, true),
            (same_key_elsewhere, true),
        ]
    );
    assert_not_found(
        store.get_execution(&f.id, &repeat.id).await,
        "execution",
        &repeat.id,
    );

    // A later repeat gets the first execution as it stands now, not as it was accepted.
    let running = Execution {
        status: ExecutionStatus::Running,
        attempts: 1,
        started_at: Some(base_time()),
        ..first
    };
    put(store, vec![running.clone()]).await;
    let later = keyed(&f, 7, Some("order-7"));
    assert_eq!(insert(store, vec![later]).await, [(running, false)]);
    let listed = store
        .list_executions(&f.id, &ListQuery::default(), &ExecutionFilter::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 4);
}

pub async fn executions_list_in_pages_either_way(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let ours: Vec<Execution> = (0..5)
        .map(|i| completed_run(&f, base_time() + Duration::minutes(i), 1))
        .collect();
    put(store, ours.clone()).await;
    put(store, vec![completed_run(&g, base_time(), 2)]).await;

    let every = ExecutionFilter::default();
    let newest_first: Vec<Execution> = ours.iter().rev().cloned().collect();
    let listed = all_pages(2, Order::Desc, 5, async |q| {
        store.list_executions(&f.id, &q, &every).await
    })
    .await;
    assert_eq!(listed, newest_first);
    let listed = all_pages(3, Order::Asc, 5, async |q| {
        store.list_executions(&f.id, &q, &every).await
    })
    .await;
    assert_eq!(listed, ours);

    // No order given: newest first.
    let tail = store
        .list_executions(
            &f.id,
            &ListQuery {
                offset: Some(3),
                ..ListQuery::default()
            },
            &every,
        )
        .await
        .unwrap();
    assert_eq!((tail.items.as_slice(), tail.total), (&newest_first[3..], 5));
    assert_eq!(tail.next_cursor, None);
}

pub async fn executions_are_filtered_by_status_trigger_time_and_dead_letter(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let at = |minutes| base_time() + Duration::minutes(minutes);
    let http_ok = completed_run(&f, at(0), 1);
    let queued = execution(&f, at(10), 2, ExecutionStatus::Queued);
    let scheduled_ok = Execution {
        trigger: ExecutionTrigger::Schedule,
        ..execution(&f, at(20), 3, ExecutionStatus::Completed)
    };
    let dead = Execution {
        dead_letter: true,
        attempts: 3,
        ..execution(&f, at(30), 4, ExecutionStatus::Failed)
    };
    let retried = execution(&f, at(40), 5, ExecutionStatus::Failed);
    put(
        store,
        vec![
            http_ok.clone(),
            queued.clone(),
            scheduled_ok.clone(),
            dead.clone(),
            retried.clone(),
        ],
    )
    .await;

    let matching = async |filter: ExecutionFilter| {
        let page = store
            .list_executions(&f.id, &ListQuery::default(), &filter)
            .await
            .unwrap();
        assert_eq!(page.total as usize, page.items.len(), "{filter:?}");
        let mut ids: Vec<String> = page.items.into_iter().map(|e| e.id).collect();
        ids.sort();
        ids
    };
    let expect = |executions: &[&Execution]| {
        let mut ids: Vec<String> = executions.iter().map(|e| e.id.clone()).collect();
        ids.sort();
        ids
    };
    assert_eq!(
        matching(ExecutionFilter {
            status: Some(ExecutionStatus::Completed),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[&http_ok, &scheduled_ok])
    );
    assert_eq!(
        matching(ExecutionFilter {
            trigger: Some(ExecutionTrigger::Http),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[&http_ok])
    );
    // `since` is inclusive, `until` exclusive.
    assert_eq!(
        matching(ExecutionFilter {
            since: Some(at(10)),
            until: Some(at(30)),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[&queued, &scheduled_ok])
    );
    assert_eq!(
        matching(ExecutionFilter {
            dead_letter: Some(true),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[&dead])
    );
    assert_eq!(
        matching(ExecutionFilter {
            status: Some(ExecutionStatus::Failed),
            dead_letter: Some(false),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[&retried])
    );
    assert_eq!(
        matching(ExecutionFilter {
            status: Some(ExecutionStatus::Timeout),
            ..ExecutionFilter::default()
        })
        .await,
        expect(&[])
    );
}

pub async fn a_replayed_dead_letter_is_one_no_more(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let dead = Execution {
        dead_letter: true,
        attempts: 3,
        ..execution(&f, base_time(), 1, ExecutionStatus::Failed)
    };
    let queued = execution(&f, base_time(), 2, ExecutionStatus::Queued);
    put(store, vec![dead.clone(), queued.clone()]).await;
    let dead_letters = async || {
        store
            .list_executions(
                &f.id,
                &ListQuery::default(),
                &ExecutionFilter {
                    dead_letter: Some(true),
                    ..ExecutionFilter::default()
                },
            )
            .await
            .unwrap()
            .total
    };
    assert_eq!(dead_letters().await, 1);

    // Only a dead letter is claimed when asked for one; the first claim wins.
    assert!(
        store
            .mark_replayed(&f.id, &dead.id, "replay-1", true)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_replayed(&f.id, &dead.id, "replay-2", true)
            .await
            .unwrap()
    );
    let marked = store.get_execution(&f.id, &dead.id).await.unwrap();
    assert_eq!(marked.replayed_by.as_deref(), Some("replay-1"));
    assert!(!marked.dead_letter);
    assert_eq!(
        Execution {
            replayed_by: None,
            dead_letter: true,
            ..marked.clone()
        },
        dead,
        "nothing else changed"
    );
    assert_eq!(dead_letters().await, 0);

    // Any finished execution may be replayed again, and names its latest replay.
    assert!(
        store
            .mark_replayed(&f.id, &dead.id, "replay-3", false)
            .await
            .unwrap()
    );
    let marked = store.get_execution(&f.id, &dead.id).await.unwrap();
    assert_eq!(marked.replayed_by.as_deref(), Some("replay-3"));
    // One the queue still owns is left alone; a missing one is not found.
    assert!(
        !store
            .mark_replayed(&f.id, &queued.id, "replay-4", false)
            .await
            .unwrap()
    );
    assert!(matches!(
        store
            .mark_replayed(&f.id, "missing", "replay-5", false)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn queued_executions_come_in_acceptance_order(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let at = |minutes| base_time() + Duration::minutes(minutes);
    // Accepted in this order, across functions, with finished runs in between.
    let queue = vec![
        execution(&f, at(0), 1, ExecutionStatus::Queued),
        execution(&g, at(1), 2, ExecutionStatus::Queued),
        execution(&f, at(2), 3, ExecutionStatus::Queued),
        execution(&f, at(3), 4, ExecutionStatus::Queued),
    ];
    let others = vec![
        execution(&f, at(0), 5, ExecutionStatus::Running),
        execution(&g, at(2), 6, ExecutionStatus::Completed),
    ];
    // Written out of order: the order comes from the ids.
    put(store, queue.iter().rev().cloned().chain(others).collect()).await;

    let mut counts = store.queued_counts().await.unwrap();
    counts.sort();
    let mut want = vec![(f.id.clone(), 3), (g.id.clone(), 1)];
    want.sort();
    assert_eq!(counts, want);

    assert_eq!(
        store.queued_executions(None, None, 10).await.unwrap(),
        queue
    );
    assert_eq!(
        store.queued_executions(None, None, 2).await.unwrap(),
        queue[..2]
    );
    assert_eq!(
        store
            .queued_executions(None, Some(&queue[1].id), 10)
            .await
            .unwrap(),
        queue[2..]
    );
    assert!(
        store
            .queued_executions(None, Some(&queue[3].id), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn interrupted_runs_go_back_to_the_queue(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let running = |serial| Execution {
        attempts: 1,
        started_at: Some(base_time()),
        ..execution(&f, base_time(), serial, ExecutionStatus::Running)
    };
    let interrupted = vec![running(1), running(2)];
    let waiting = execution(&f, base_time(), 3, ExecutionStatus::Queued);
    let finished = completed_run(&f, base_time(), 4);
    put(
        store,
        interrupted
            .iter()
            .cloned()
            .chain([waiting.clone(), finished.clone()])
            .collect(),
    )
    .await;

    let restart = base_time() + Duration::hours(1);
    assert_eq!(store.requeue_running(restart, None).await.unwrap(), 2);
    for before in &interrupted {
        assert_eq!(
            store.get_execution(&f.id, &before.id).await.unwrap(),
            Execution {
                status: ExecutionStatus::Queued,
                run_after: Some(restart),
                ..before.clone()
            }
        );
    }
    assert_eq!(
        store.get_execution(&f.id, &waiting.id).await.unwrap(),
        waiting
    );
    assert_eq!(
        store.get_execution(&f.id, &finished.id).await.unwrap(),
        finished
    );
    assert_eq!(
        store.queued_executions(None, None, 10).await.unwrap().len(),
        3
    );
    assert_eq!(store.requeue_running(restart, None).await.unwrap(), 0);
}

fn node(id: &str, heartbeat_at: DateTime<Utc>) -> gust_core::Node {
    gust_core::Node {
        id: id.into(),
        version: "1.2.3".into(),
        url: format!("http://{id}.internal:8080"),
        started_at: base_time(),
        heartbeat_at,
        running: 2,
        queued: 3,
        instances: 4,
    }
}

pub async fn an_upload_token_is_used_once_until_it_expires(store: &dyn Store) {
    let now = base_time();
    let expires = now + Duration::minutes(10);
    assert!(store.use_upload_token("n1", expires, now).await.unwrap());
    assert!(!store.use_upload_token("n1", expires, now).await.unwrap());
    // Another token is its own.
    assert!(store.use_upload_token("n2", expires, now).await.unwrap());
    // A use given back may be taken again, once.
    store.release_upload_token("n1").await.unwrap();
    store.release_upload_token("never-used").await.unwrap();
    assert!(store.use_upload_token("n1", expires, now).await.unwrap());
    assert!(!store.use_upload_token("n1", expires, now).await.unwrap());
    // Past its expiry the use is forgotten (the URL itself no longer verifies by then).
    let later = expires + Duration::seconds(1);
    assert!(
        store
            .use_upload_token("n1", later + Duration::minutes(10), later)
            .await
            .unwrap()
    );
}

pub async fn nodes_are_listed_while_their_heartbeat_is_fresh(store: &dyn Store) {
    let now = base_time() + Duration::hours(1);
    store.put_node(&node("b", now)).await.unwrap();
    store
        .put_node(&node("a", now - Duration::minutes(1)))
        .await
        .unwrap();
    assert_eq!(
        store.list_nodes(now - Duration::minutes(2)).await.unwrap(),
        [node("a", now - Duration::minutes(1)), node("b", now)]
    );
    assert_eq!(
        store.list_nodes(now - Duration::seconds(15)).await.unwrap(),
        [node("b", now)]
    );
    // A heartbeat replaces the row.
    let later = node("a", now + Duration::seconds(1));
    store.put_node(&later).await.unwrap();
    assert_eq!(
        store.list_nodes(now - Duration::seconds(15)).await.unwrap(),
        [later, node("b", now)]
    );
}

pub async fn a_build_is_held_by_one_node_and_taken_over_when_it_is_gone(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let waiting = deployment(&f, DeploymentStatus::Waiting, "aa");
    let building = deployment(&f, DeploymentStatus::Building, "bb");
    let ready = deployment(&f, DeploymentStatus::Ready, "cc");
    for d in [&waiting, &building, &ready] {
        store.create_deployment(d).await.unwrap();
    }
    let now = base_time() + Duration::hours(1);
    let lease = Duration::seconds(15);
    store.put_node(&node("a", now)).await.unwrap();
    store.put_node(&node("b", now)).await.unwrap();
    let ids = |builds: Vec<Deployment>| builds.into_iter().map(|d| d.id).collect::<Vec<_>>();

    // Held by no one, both unfinished builds are there to claim; a finished one never is.
    assert_eq!(
        ids(store.claimable_builds("b", now - lease).await.unwrap()),
        [waiting.id.clone(), building.id.clone()]
    );
    assert!(
        !store
            .claim_build(&ready.id, "a", now - lease)
            .await
            .unwrap()
    );
    // "a" claims the waiting one: "b" cannot while "a" is alive; "a" may again (before it
    // saves the outcome).
    assert!(
        store
            .claim_build(&waiting.id, "a", now - lease)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_build(&waiting.id, "b", now - lease)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_build(&waiting.id, "a", now - lease)
            .await
            .unwrap()
    );
    assert_eq!(
        ids(store.claimable_builds("b", now - lease).await.unwrap()),
        std::slice::from_ref(&building.id)
    );
    // Nor is it offered to "a" itself, which holds it.
    assert_eq!(
        ids(store.claimable_builds("a", now - lease).await.unwrap()),
        std::slice::from_ref(&building.id)
    );
    // Saving the deployment (the build starting) keeps who holds it.
    let started = Deployment {
        status: DeploymentStatus::Building,
        ..waiting.clone()
    };
    store.update_deployment(&started).await.unwrap();
    assert!(
        !store
            .claim_build(&waiting.id, "b", now - lease)
            .await
            .unwrap()
    );

    // "a" stops beating: "b" takes its build over, once.
    let later = now + Duration::seconds(20);
    store.put_node(&node("b", later)).await.unwrap();
    assert_eq!(
        ids(store.claimable_builds("b", later - lease).await.unwrap()),
        [waiting.id.clone(), building.id.clone()]
    );
    assert!(
        store
            .claim_build(&waiting.id, "b", later - lease)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_build(&waiting.id, "c", later - lease)
            .await
            .unwrap()
    );
    // "a" coming back finds it taken: it must not save its own outcome.
    store.put_node(&node("a", later)).await.unwrap();
    assert!(
        !store
            .claim_build(&waiting.id, "a", later - lease)
            .await
            .unwrap()
    );
    // Once built, nobody claims it any more.
    let built = Deployment {
        status: DeploymentStatus::Ready,
        ..started
    };
    store.update_deployment(&built).await.unwrap();
    assert!(
        !store
            .claim_build(&waiting.id, "b", later - lease)
            .await
            .unwrap()
    );
    assert_eq!(
        ids(store.claimable_builds("c", later - lease).await.unwrap()),
        std::slice::from_ref(&building.id)
    );
    // Built again, it is anyone's: "a" claims it though "b", alive, built it last.
    let rebuilt = Deployment {
        status: DeploymentStatus::Waiting,
        ..built
    };
    store.update_deployment(&rebuilt).await.unwrap();
    assert!(
        store
            .claim_build(&waiting.id, "a", later - lease)
            .await
            .unwrap()
    );
}

pub async fn a_gone_nodes_executions_are_claimed_by_one_other(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let running = Execution {
        attempts: 1,
        started_at: Some(base_time()),
        ..execution(&f, base_time(), 1, ExecutionStatus::Running)
    };
    let waiting = execution(&f, base_time(), 2, ExecutionStatus::Queued);
    let finished = completed_run(&f, base_time(), 3);
    put(
        store,
        vec![running.clone(), waiting.clone(), finished.clone()],
    )
    .await;
    let now = base_time() + Duration::hours(1);
    let lease = Duration::seconds(15);
    store.put_node(&node("a", now)).await.unwrap();

    // Held by no one: "a" takes both unfinished ones, the running one back in the queue.
    let requeued = Execution {
        status: ExecutionStatus::Queued,
        run_after: Some(now),
        ..running.clone()
    };
    assert_eq!(
        store
            .claim_executions("a", now - lease, now, 10)
            .await
            .unwrap(),
        [requeued.clone(), waiting.clone()]
    );
    assert_eq!(
        store.get_execution(&f.id, &running.id).await.unwrap(),
        requeued
    );
    assert_eq!(
        store
            .queued_executions(Some("a"), None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    // "a" is alive: nothing for "b", nor for "a" itself, which holds them already.
    for claimer in ["a", "b"] {
        assert!(
            store
                .claim_executions(claimer, now - lease, now, 10)
                .await
                .unwrap()
                .is_empty()
        );
    }
    // "a" stops beating: "b" takes them, at most `limit` a claim, and only once.
    let later = now + Duration::seconds(20);
    assert_eq!(
        store
            .claim_executions("b", later - lease, later, 1)
            .await
            .unwrap(),
        std::slice::from_ref(&requeued)
    );
    assert_eq!(
        store
            .claim_executions("b", later - lease, later, 10)
            .await
            .unwrap(),
        std::slice::from_ref(&waiting)
    );
    store.put_node(&node("b", later)).await.unwrap();
    assert!(
        store
            .claim_executions("c", later - lease, later, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .queued_executions(Some("a"), None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .queued_executions(Some("b"), None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        store.get_execution(&f.id, &finished.id).await.unwrap(),
        finished
    );
}

pub async fn a_cron_tick_is_advanced_by_one_caller(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let tick = base_time();
    let cron = FunctionTrigger {
        next_run_at: Some(tick),
        ..trigger(&f, TriggerKind::Cron, TriggerOrigin::Api)
    };
    store.create_trigger(&cron).await.unwrap();
    let fired = FunctionTrigger {
        last_run_at: Some(tick),
        next_run_at: Some(tick + Duration::minutes(5)),
        ..cron.clone()
    };
    assert!(store.advance_trigger(&fired, tick).await.unwrap());
    // A second server that fired the same tick moves nothing.
    let late = FunctionTrigger {
        last_run_at: Some(tick + Duration::seconds(1)),
        ..fired.clone()
    };
    assert!(!store.advance_trigger(&late, tick).await.unwrap());
    assert_eq!(store.get_trigger(&f.id, &cron.id).await.unwrap(), fired);
    store.delete_trigger(&cron.id).await.unwrap();
    assert_not_found(
        store.advance_trigger(&fired, tick).await,
        "trigger",
        &cron.id,
    );
}

pub async fn pruning_drops_finished_executions_past_the_age_limit(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let now = base_time() + Duration::days(30);
    let days_ago = |days| now - Duration::days(days);
    let expired = [
        completed_run(&f, days_ago(9), 1),
        execution(&f, days_ago(8), 2, ExecutionStatus::Failed),
    ];
    let kept = [
        completed_run(&f, days_ago(6), 3),
        // Waiting or running, however old: pruning would lose work.
        execution(&f, days_ago(20), 4, ExecutionStatus::Queued),
        execution(&f, days_ago(20), 5, ExecutionStatus::Running),
    ];
    let other_function = completed_run(&g, days_ago(9), 6);
    put(
        store,
        expired
            .iter()
            .chain(&kept)
            .chain([&other_function])
            .cloned()
            .collect(),
    )
    .await;

    let week = ExecutionRetention {
        max_count: 1000,
        max_age_s: 7 * 86_400,
    };
    assert_eq!(store.prune_executions(&f.id, &week, now).await.unwrap(), 2);
    assert_eq!(
        remaining_ids(store, &f).await,
        sorted_ids(kept.iter().map(|e| &e.id))
    );
    assert_eq!(remaining_ids(store, &g).await, [other_function.id]);
    assert_eq!(store.prune_executions(&f.id, &week, now).await.unwrap(), 0);
}

/// Pruning deletes in batches (so it never holds the write lock long): a backlog of several
/// batches still goes entirely, to the exact count kept.
pub async fn a_backlog_larger_than_a_pruning_batch_is_pruned_whole(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let now = base_time() + Duration::days(1);
    let runs: Vec<Execution> = (0..4_500)
        .map(|i| completed_run(&f, base_time() + Duration::milliseconds(i), 1))
        .collect();
    put(store, runs.clone()).await;
    let ten = ExecutionRetention {
        max_count: 10,
        max_age_s: 30 * 86_400,
    };
    assert_eq!(
        store.prune_executions(&f.id, &ten, now).await.unwrap(),
        4_490
    );
    assert_eq!(
        remaining_ids(store, &f).await,
        sorted_ids(runs[4_490..].iter().map(|e| &e.id))
    );
}

/// At the data dir's ceiling, the oldest finished executions of any function go first, and
/// the pages they held are free for new rows.
pub async fn at_the_size_ceiling_the_oldest_finished_executions_go_first(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let at = |i| base_time() + Duration::milliseconds(i);
    // Interleaved between the functions, in the order they were recorded.
    let runs: Vec<Execution> = (0..3_000)
        .map(|i| completed_run(if i % 2 == 0 { &f } else { &g }, at(i), 1))
        .collect();
    let waiting = execution(&f, at(-1), 2, ExecutionStatus::Queued);
    put(
        store,
        [waiting.clone()].into_iter().chain(runs.clone()).collect(),
    )
    .await;
    let before = store.database_size().await.unwrap();
    assert!(before.file > 0 && before.used() > 0, "{before:?}");

    assert_eq!(store.prune_oldest_executions(2_500).await.unwrap(), 2_500);
    let kept: Vec<&String> = runs[2_500..].iter().map(|e| &e.id).collect();
    let mut remaining = remaining_ids(store, &f).await;
    remaining.extend(remaining_ids(store, &g).await);
    remaining.sort();
    let mut expected: Vec<String> = kept.into_iter().cloned().collect();
    // Waiting work is never pruned, however old.
    expected.push(waiting.id.clone());
    expected.sort();
    assert_eq!(remaining, expected);
    let after = store.database_size().await.unwrap();
    assert!(after.free > before.free, "{before:?} then {after:?}");
    // Asking for more than there is takes what is finished, and no more.
    assert_eq!(store.prune_oldest_executions(10_000).await.unwrap(), 500);
}

/// The execution writer's pruning (between its batches) keeps what the store's keeps: the
/// newest `max_count`, unfinished ones never pruned, other functions untouched, a backlog of
/// several statements gone whole.
pub async fn the_execution_writer_prunes_a_function_as_the_store_does(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let now = base_time() + Duration::days(1);
    let at = |i| base_time() + Duration::milliseconds(i);
    let finished: Vec<Execution> = (0..4_500).map(|i| completed_run(&f, at(i), 1)).collect();
    let waiting = execution(&f, at(-10), 2, ExecutionStatus::Queued);
    let theirs: Vec<Execution> = (0..5).map(|i| completed_run(&g, at(i), 4)).collect();
    put(
        store,
        finished
            .iter()
            .chain([&waiting])
            .chain(&theirs)
            .cloned()
            .collect(),
    )
    .await;
    let ten = ExecutionRetention {
        max_count: 10,
        max_age_s: 30 * 86_400,
    };
    let mut writer = store.execution_writer(None).unwrap();
    let f_id = f.id.clone();
    let (pruned, mut writer) = tokio::task::spawn_blocking(move || {
        let first = writer.prune(&f_id, &ten, now).unwrap();
        ((first, writer.prune(&f_id, &ten, now).unwrap()), writer)
    })
    .await
    .unwrap();
    assert_eq!(pruned, (4_490, 0));
    assert_eq!(
        remaining_ids(store, &f).await,
        sorted_ids(finished[4_490..].iter().chain([&waiting]).map(|e| &e.id))
    );
    assert_eq!(
        remaining_ids(store, &g).await,
        sorted_ids(theirs.iter().map(|e| &e.id))
    );

    // Twenty more runs, and the queued one finishes: the writer's next pruning takes the new
    // excess (a writer may leave a run that finished behind its last pruning, as PostgreSQL's
    // does), and the store's pruning, the retention task's, whatever is left.
    let later: Vec<Execution> = (4_500..4_520)
        .map(|i| completed_run(&f, at(i), 1))
        .collect();
    let done = Execution {
        status: ExecutionStatus::Completed,
        ..waiting.clone()
    };
    put(store, later.iter().chain([&done]).cloned().collect()).await;
    let f_id = f.id.clone();
    let again = tokio::task::spawn_blocking(move || writer.prune(&f_id, &ten, now).unwrap())
        .await
        .unwrap();
    assert!((20..=21).contains(&again), "{again}");
    let kept = sorted_ids(later[10..].iter().map(|e| &e.id));
    let mut left = remaining_ids(store, &f).await;
    left.retain(|id| *id != done.id);
    assert_eq!(left, kept);
    store.prune_executions(&f.id, &ten, now).await.unwrap();
    assert_eq!(remaining_ids(store, &f).await, kept);
}

pub async fn pruning_keeps_only_the_newest_finished_executions(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "checkout").await;
    let g = created_function(store, &ns, "refund").await;
    let now = base_time() + Duration::days(1);
    let at = |minutes| base_time() + Duration::minutes(minutes);
    let finished: Vec<Execution> = (0..5).map(|i| completed_run(&f, at(i), 1)).collect();
    let unfinished = [
        execution(&f, at(-10), 2, ExecutionStatus::Queued),
        execution(&f, at(-10), 3, ExecutionStatus::Running),
    ];
    let theirs: Vec<Execution> = (0..5).map(|i| completed_run(&g, at(i), 4)).collect();
    put(
        store,
        finished
            .iter()
            .chain(&unfinished)
            .chain(&theirs)
            .cloned()
            .collect(),
    )
    .await;

    let three = ExecutionRetention {
        max_count: 3,
        max_age_s: 30 * 86_400,
    };
    assert_eq!(store.prune_executions(&f.id, &three, now).await.unwrap(), 2);
    assert_eq!(
        remaining_ids(store, &f).await,
        sorted_ids(finished[2..].iter().chain(&unfinished).map(|e| &e.id))
    );
    assert_eq!(
        remaining_ids(store, &g).await,
        sorted_ids(theirs.iter().map(|e| &e.id))
    );
}

// Fixtures.

/// A fixed instant the executions of a case are placed around.
fn base_time() -> DateTime<Utc> {
    "2026-01-05T12:00:00Z".parse().unwrap()
}

/// An id minted at `at`: ids are time-ordered, and lists, time filters and pruning rely on it.
/// `serial` tells apart those of the same instant.
fn id_at(at: DateTime<Utc>, serial: u64) -> String {
    let floor = gust_core::id::id_floor(at);
    format!("{}{serial:012x}", &floor[..24])
}

fn namespace(name: &str, description: &str) -> Namespace {
    NamespaceSpec {
        name: Some(name.into()),
        description: Some(description.into()),
        env: Some(BTreeMap::from([("REGION".into(), "eu".into())])),
        secrets: Some(BTreeMap::from([("STRIPE_KEY".into(), "sk_test".into())])),
        tags: Some(vec!["payments".into()]),
        labels: Some(BTreeMap::from([("owner".into(), "billing".into())])),
    }
    .into_new_namespace()
    .unwrap()
}

async fn created_namespace(store: &dyn Store, name: &str) -> Namespace {
    let ns = namespace(name, "");
    store.create_namespace(&ns).await.unwrap();
    ns
}

fn function(ns: &Namespace, name: &str) -> Function {
    FunctionSpec {
        name: Some(name.into()),
        runtime: Some("wasm".into()),
        env: Some(BTreeMap::from([("LOG".into(), "debug".into())])),
        secrets: Some(BTreeMap::from([("API_KEY".into(), "first".into())])),
        ..FunctionSpec::default()
    }
    .into_new_function(&ns.id, &ns.name)
    .unwrap()
}

async fn created_function(store: &dyn Store, ns: &Namespace, name: &str) -> Function {
    let mut f = function(ns, name);
    f.serial = store.create_function(&f).await.unwrap();
    f
}

fn deployment(function: &Function, status: DeploymentStatus, sha256: &str) -> Deployment {
    let now = gust_core::now();
    Deployment {
        id: gust_core::new_id(),
        function_id: function.id.clone(),
        sha256: sha256.into(),
        md5: None,
        size: 2048,
        received: 2048,
        format: PackageFormat::Wasm,
        entrypoint: None,
        wasm_sha256: Some(sha256.into()),
        built_sha256: None,
        status,
        build_log: String::new(),
        build_duration_ms: None,
        error_message: None,
        active: false,
        activate_when_ready: true,
        created_at: now,
        updated_at: now,
    }
}

fn trigger(function: &Function, kind: TriggerKind, origin: TriggerOrigin) -> FunctionTrigger {
    let spec = match kind {
        TriggerKind::Cron => TriggerSpec {
            kind: Some(kind),
            schedule: Some("*/5 * * * *".into()),
            body: Some("{\"report\":true}".into()),
            ..TriggerSpec::default()
        },
        TriggerKind::Event => TriggerSpec {
            kind: Some(kind),
            events: Some(vec!["orders.created".into(), "functions.*".into()]),
            ..TriggerSpec::default()
        },
        TriggerKind::Queue => TriggerSpec {
            kind: Some(kind),
            name: Some("orders".into()),
            queue: Some(gust_core::QueueSource {
                protocol: gust_core::QueueProtocol::Sqs,
                name: "orders".into(),
                settings: BTreeMap::from([("region".into(), "fr-par".into())]),
            }),
            ..TriggerSpec::default()
        },
    };
    spec.into_trigger(&function.namespace_id, &function.id, origin)
        .unwrap()
}

fn domain(function: &Function, hostname: &str) -> Domain {
    DomainSpec {
        hostname: Some(hostname.into()),
    }
    .into_domain(&function.namespace_id, &function.id)
    .unwrap()
}

async fn created_domain(store: &dyn Store, function: &Function, hostname: &str) -> Domain {
    let d = domain(function, hostname);
    store.create_domain(&d).await.unwrap();
    d
}

fn version(function: &Function, deployment_id: &str) -> FunctionVersion {
    VersionSpec {
        description: Some(format!("runs {deployment_id}")),
    }
    .into_version(function, 0, deployment_id, &format!("sha-{deployment_id}"))
    .unwrap()
}

async fn created_version(
    store: &dyn Store,
    function: &Function,
    deployment_id: &str,
) -> FunctionVersion {
    store
        .create_version(&version(function, deployment_id), gust_core::MAX_VERSIONS)
        .await
        .unwrap()
}

fn alias(function: &Function, name: &str, version: Option<u32>) -> Alias {
    AliasSpec {
        name: Some(name.into()),
        version,
        description: Some(format!("{name} traffic")),
        ..AliasSpec::default()
    }
    .into_alias(function)
    .unwrap()
}

async fn created_alias(
    store: &dyn Store,
    function: &Function,
    name: &str,
    version: Option<u32>,
) -> Alias {
    let a = alias(function, name, version);
    store.create_alias(&a).await.unwrap();
    a
}

async fn created_webhook(store: &dyn Store, function: &Function, description: &str) -> Webhook {
    let w = WebhookSpec {
        description: Some(description.into()),
        ..WebhookSpec::default()
    }
    .into_webhook(&function.namespace_id, &function.id)
    .unwrap();
    store.create_webhook(&w).await.unwrap();
    w
}

fn token(description: &str) -> Token {
    Token {
        id: gust_core::new_id(),
        description: description.into(),
        scopes: vec![Scope::Read, Scope::Invoke],
        namespace_id: None,
        function_id: None,
        expires_at: Some(base_time() + Duration::days(90)),
        created_at: gust_core::now(),
        last_used_at: None,
        token: None,
    }
}

fn request(path: &str) -> ExecutionRequest {
    ExecutionRequest {
        method: "POST".into(),
        path: path.into(),
        query: "dry=1".into(),
        headers: BTreeMap::from([("content-type".into(), "application/json".into())]),
        body: RecordedBody::whole(b"{\"amount\":42}"),
    }
}

/// An async execution of `function` accepted at `at`, now in `status`.
fn execution(
    function: &Function,
    at: DateTime<Utc>,
    serial: u64,
    status: ExecutionStatus,
) -> Execution {
    Execution {
        id: id_at(at, serial),
        status,
        created_at: at,
        ..Execution::queued(function, ExecutionTrigger::Api, request("/jobs"))
    }
}

/// An HTTP invocation of `function` that started at `at` and answered.
fn completed_run(function: &Function, at: DateTime<Utc>, serial: u64) -> Execution {
    let run = Execution::started(
        id_at(at, serial),
        &function.namespace_id,
        &function.id,
        "deployment-1",
        ExecutionTrigger::Http,
        request("/checkout"),
        at,
    );
    Execution {
        response: Some(ExecutionResponse {
            status_code: 201,
            headers: BTreeMap::from([("content-type".into(), "text/plain".into())]),
            body: RecordedBody::capture(b"created", 7),
        }),
        logs: ExecutionLogs {
            stdout: "charged 42\n".into(),
            ..ExecutionLogs::default()
        },
        cold_start: true,
        ..run.ended(
            ExecutionStatus::Completed,
            std::time::Duration::from_micros(3_250),
            at + Duration::milliseconds(4),
        )
    }
}

// Helpers.

/// Writes through the store's execution writer on a blocking thread, as the recorder does.
async fn put(store: &dyn Store, batch: Vec<Execution>) {
    let mut writer = store.execution_writer(None).unwrap();
    tokio::task::spawn_blocking(move || writer.put(&batch))
        .await
        .unwrap()
        .unwrap();
}

async fn insert(store: &dyn Store, batch: Vec<Execution>) -> Vec<(Execution, bool)> {
    let mut writer = store.execution_writer(None).unwrap();
    tokio::task::spawn_blocking(move || writer.insert(&batch))
        .await
        .unwrap()
        .unwrap()
}

/// Every item of a list, read `limit` at a time through `next_cursor`. Each page must report
/// the same `total`, and only the last may lack a cursor.
async fn all_pages<T: Debug>(
    limit: u32,
    order: Order,
    total: u64,
    fetch: impl AsyncFn(ListQuery) -> StoreResult<Page<T>>,
) -> Vec<T> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(ListQuery {
            limit: Some(limit),
            cursor: cursor.take(),
            order: Some(order),
            ..ListQuery::default()
        })
        .await
        .unwrap();
        assert_eq!(page.total, total, "total of every page");
        assert!(page.items.len() <= limit as usize, "{page:?}");
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
        assert!(items.len() < total as usize, "a cursor after the last item");
    }
    assert_eq!(items.len() as u64, total, "items over all pages");
    items
}

fn search_for(text: &str) -> ListQuery {
    ListQuery {
        search: Some(text.into()),
        ..ListQuery::default()
    }
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> &String) -> Vec<String> {
    items.iter().map(|item| id(item).clone()).collect()
}

fn sorted_by_id<T>(mut items: Vec<T>, id: impl Fn(&T) -> &String) -> Vec<T> {
    items.sort_by(|a, b| id(a).cmp(id(b)));
    items
}

fn sorted_ids<'a>(ids: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.cloned().collect();
    ids.sort();
    ids
}

/// Ids of every execution of `function` still stored, sorted.
async fn remaining_ids(store: &dyn Store, function: &Function) -> Vec<String> {
    let page = store
        .list_executions(
            &function.id,
            &ListQuery {
                limit: Some(gust_core::list::MAX_LIMIT),
                ..ListQuery::default()
            },
            &ExecutionFilter::default(),
        )
        .await
        .unwrap();
    sorted_ids(page.items.iter().map(|e| &e.id))
}

#[track_caller]
fn assert_not_found<T: Debug>(result: StoreResult<T>, kind: &str, key: &str) {
    match result {
        Err(StoreError::NotFound {
            kind: found_kind,
            key: found_key,
        }) => assert_eq!((found_kind, found_key.as_str()), (kind, key)),
        other => panic!("expected {kind} `{key}` not found, got {other:?}"),
    }
}

#[track_caller]
fn assert_conflict<T: Debug>(result: StoreResult<T>) {
    match result {
        Err(StoreError::Conflict(message)) => assert!(!message.is_empty()),
        other => panic!("expected a conflict, got {other:?}"),
    }
}

// Function serials and edge resources.

pub async fn function_serials_are_given_in_order_and_never_again(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let a = created_function(store, &ns, "a").await;
    let b = created_function(store, &ns, "b").await;
    assert!(a.serial >= 1 && b.serial > a.serial);
    assert_eq!(store.get_function_by_serial(b.serial).await.unwrap(), b);
    assert_eq!(
        store.get_function(&ns.id, "a").await.unwrap().serial,
        a.serial
    );
    store.delete_function(&b.id).await.unwrap();
    assert!(matches!(
        store.get_function_by_serial(b.serial).await,
        Err(StoreError::NotFound { .. })
    ));
    let c = created_function(store, &ns, "c").await;
    assert!(
        c.serial > b.serial,
        "a deleted function's serial is not given again"
    );
    // A configuration update keeps the serial whatever the document says.
    store
        .update_function(&Function {
            serial: 0,
            ..c.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store.get_function_by_id(&c.id).await.unwrap().serial,
        c.serial
    );
}

fn edge_app(ns: &Namespace, name: &str) -> gust_core::EdgeApplication {
    gust_core::EdgeApplicationSpec {
        name: Some(name.into()),
        edge_functions: Some(true),
        ..Default::default()
    }
    .into_application(&ns.id, &ns.name)
    .unwrap()
}

fn edge_instance(app: &gust_core::EdgeApplication, f: &Function) -> gust_core::FunctionInstance {
    let now = gust_core::now();
    gust_core::FunctionInstance {
        id: 0,
        edge_application_id: app.id,
        namespace_id: app.namespace_id.clone(),
        name: "instance".into(),
        function_id: f.id.clone(),
        function_serial: f.serial,
        args: serde_json::json!({"greeting": "hej"}),
        created_at: now,
        updated_at: now,
    }
}

fn edge_rule(app_id: u64, order: u32, target: u64) -> gust_core::EdgeRule {
    serde_json::from_value::<gust_core::EdgeRuleSpec>(serde_json::json!({
        "name": format!("rule {order}"),
        "behaviors": [{"name": "run_function", "target": target}],
    }))
    .unwrap()
    .into_rule(app_id, order)
    .unwrap()
}

fn edge_domain(ns: &Namespace, app: Option<u64>, cnames: &[&str]) -> gust_core::EdgeDomain {
    gust_core::EdgeDomainSpec {
        name: Some("site".into()),
        cnames: Some(cnames.iter().map(|c| c.to_string()).collect()),
        edge_application_id: Some(app),
        active: None,
    }
    .into_domain(&ns.id)
    .unwrap()
}

pub async fn edge_resources_are_numbered_and_checked(store: &dyn Store) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "render").await;
    let first = store
        .create_edge_application(&edge_app(&ns, "one"))
        .await
        .unwrap();
    let app = store
        .create_edge_application(&edge_app(&ns, "two"))
        .await
        .unwrap();
    assert!(first.id >= 1 && app.id > first.id);
    assert_eq!(store.get_edge_application(app.id).await.unwrap(), app);
    let page = store
        .list_edge_applications(EdgeScope::Namespace(&ns.id), &ListQuery::default())
        .await
        .unwrap();
    assert_eq!(page.total, 2);

    let instance = store
        .create_edge_instance(&edge_instance(&app, &f))
        .await
        .unwrap();
    assert!(instance.id >= 1);
    assert_eq!(
        store.get_edge_instance(app.id, instance.id).await.unwrap(),
        instance
    );
    assert!(matches!(
        store.get_edge_instance(first.id, instance.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let missing = Function {
        id: "nope".into(),
        ..f.clone()
    };
    assert!(matches!(
        store
            .create_edge_instance(&edge_instance(&app, &missing))
            .await,
        Err(StoreError::NotFound {
            kind: "function",
            ..
        })
    ));
    assert_eq!(
        store.edge_instance_counts(Some(&ns.id)).await.unwrap(),
        vec![(f.id.clone(), 1)]
    );
    assert_conflict(store.delete_function(&f.id).await);

    // Rules run instances of their own application only, and list in order.
    assert!(matches!(
        store
            .create_edge_rule(&edge_rule(first.id, 0, instance.id), 10)
            .await,
        Err(StoreError::NotFound {
            kind: "instance",
            ..
        })
    ));
    let late = store
        .create_edge_rule(&edge_rule(app.id, 5, instance.id), 10)
        .await
        .unwrap();
    let early = store
        .create_edge_rule(&edge_rule(app.id, 1, instance.id), 10)
        .await
        .unwrap();
    let ids: Vec<u64> = store
        .list_edge_rules(app.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![early.id, late.id]);
    assert_conflict(
        store
            .create_edge_rule(&edge_rule(app.id, 9, instance.id), 2)
            .await,
    );
    store
        .update_edge_rule(&gust_core::EdgeRule {
            order: 0,
            ..late.clone()
        })
        .await
        .unwrap();
    let ids: Vec<u64> = store
        .list_edge_rules(app.id)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, vec![late.id, early.id]);
    assert_conflict(store.delete_edge_instance(app.id, instance.id).await);
    store.delete_edge_rule(app.id, late.id).await.unwrap();
    store.delete_edge_rule(app.id, early.id).await.unwrap();
    store
        .delete_edge_instance(app.id, instance.id)
        .await
        .unwrap();
    store.delete_function(&f.id).await.unwrap();

    // Host names are unique across edge and custom domains.
    let g = created_function(store, &ns, "other").await;
    created_domain(store, &g, "custom.example.com").await;
    let site = store
        .create_edge_domain(&edge_domain(&ns, Some(app.id), &["www.example.com"]))
        .await
        .unwrap();
    assert!(site.id >= 1);
    assert_conflict(
        store
            .create_edge_domain(&edge_domain(
                &ns,
                None,
                &["new.example.com", "www.example.com"],
            ))
            .await,
    );
    assert_conflict(
        store
            .create_edge_domain(&edge_domain(&ns, None, &["custom.example.com"]))
            .await,
    );
    assert_conflict(store.create_domain(&domain(&g, "www.example.com")).await);
    assert_eq!(store.all_edge_domains().await.unwrap(), vec![site.clone()]);
    // A refused domain left nothing behind: its other cname is free.
    store
        .update_edge_domain(&gust_core::EdgeDomain {
            cnames: vec!["new.example.com".into()],
            ..site.clone()
        })
        .await
        .unwrap();
    store
        .create_edge_domain(&edge_domain(&ns, None, &["www.example.com"]))
        .await
        .unwrap();
}

pub async fn deleting_an_edge_application_takes_its_instances_and_rules_and_unbinds_its_domains(
    store: &dyn Store,
) {
    let ns = created_namespace(store, "shop").await;
    let f = created_function(store, &ns, "render").await;
    let app = store
        .create_edge_application(&edge_app(&ns, "site"))
        .await
        .unwrap();
    let instance = store
        .create_edge_instance(&edge_instance(&app, &f))
        .await
        .unwrap();
    store
        .create_edge_rule(&edge_rule(app.id, 0, instance.id), 10)
        .await
        .unwrap();
    let domain = store
        .create_edge_domain(&edge_domain(&ns, Some(app.id), &["www.example.com"]))
        .await
        .unwrap();
    assert_eq!(
        store.delete_edge_application(app.id).await.unwrap(),
        vec![domain.id]
    );
    assert!(matches!(
        store.get_edge_application(app.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(store.list_edge_rules(app.id).await.unwrap().is_empty());
    assert!(store.all_edge_instances(app.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .get_edge_domain(domain.id)
            .await
            .unwrap()
            .edge_application_id,
        None
    );
    // The function is free to go, and a new application never takes the old id.
    store.delete_function(&f.id).await.unwrap();
    let next = store
        .create_edge_application(&edge_app(&ns, "next"))
        .await
        .unwrap();
    assert!(next.id > app.id);
}
