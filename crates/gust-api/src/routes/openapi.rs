//! `GET /api/v1/openapi.json`: the OpenAPI document, generated from the routes the router
//! registers, their handlers' annotations and the `gust-core` types, so it cannot drift from
//! the code.

use std::sync::Arc;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Gust API", description = "Native API of Gust, a self-hosted serverless functions platform."),
    // The paths come from the router's registration (`crate::router`); listed here are the
    // schemas that only parameters refer to, which utoipa does not collect by itself.
    components(schemas(gust_core::Order, gust_core::AuditAction, gust_core::AuditOutcome)),
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
pub async fn openapi_json(
    document: Arc<utoipa::openapi::OpenApi>,
) -> Json<Arc<utoipa::openapi::OpenApi>> {
    Json(document)
}
