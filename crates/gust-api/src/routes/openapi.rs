//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the handlers' annotations
//! and the `gust-core` types, so it cannot drift from the code.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    deployments, events, executions, functions, instances, logs, namespaces, runtimes, tokens,
    triggers,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gust API", description = "Native API of Gust, a self-hosted serverless functions platform."),
    paths(
        runtimes::list_runtimes,
        namespaces::list_namespaces, namespaces::create_namespace, namespaces::get_namespace,
        namespaces::update_namespace, namespaces::delete_namespace,
        functions::list_functions, functions::create_function, functions::get_function,
        functions::replace_function, functions::update_function, functions::delete_function,
        deployments::list_deployments, deployments::create_deployment, deployments::get_deployment,
        deployments::delete_deployment, deployments::get_deployment_code, deployments::activate_deployment,
        deployments::rebuild_deployment,
        executions::list_executions, executions::get_execution, executions::create_execution,
        executions::replay_execution, logs::get_execution_logs, logs::get_function_logs,
        triggers::list_triggers, triggers::create_trigger, triggers::get_trigger, triggers::delete_trigger,
        events::publish_event, instances::list_instances, instances::detach_instances,
        tokens::list_tokens, tokens::create_token, tokens::get_token, tokens::delete_token,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document is public: it describes the API, it holds no data.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
