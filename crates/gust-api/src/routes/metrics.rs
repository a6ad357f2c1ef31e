//! `/api/v1/namespaces/{ns}/functions/{fn}/metrics`: a function's chart over the last hour,
//! day or week; `/api/v1/namespaces/{ns}/activity`: each function's requests and errors since
//! a time. Both read the per-minute aggregates Gust keeps; `/metrics` keeps the same counts.

use axum::Json;
use axum::extract::State;
use gust_core::metrics::{FunctionActivity, FunctionMetrics, MetricsWindow};
use gust_engine::Caller;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MetricsQuery {
    /// `hour` (default: a point per minute), `day` (per 15 minutes) or `week` (per 2 hours).
    pub window: Option<MetricsWindow>,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// The span counted, back from now, in seconds: 60 to 691200 (8 days); default 86400.
    #[param(minimum = 60, maximum = 691_200)]
    pub since_s: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/metrics", tag = "metrics",
    params(("ns" = String, Path), ("fn" = String, Path), MetricsQuery),
    responses((status = 200, body = FunctionMetrics), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_function_metrics(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<MetricsQuery>,
) -> ApiResult<Json<FunctionMetrics>> {
    let window = query.window.unwrap_or_default();
    Ok(Json(
        state.function_metrics(&caller, &ns, &f, window).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/activity", tag = "metrics",
    params(("ns" = String, Path), ActivityQuery),
    responses((status = 200, body = Vec<FunctionActivity>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_namespace_activity(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(ns): ApiPath<String>,
    ApiQuery(query): ApiQuery<ActivityQuery>,
) -> ApiResult<Json<Vec<FunctionActivity>>> {
    let since = chrono::Duration::seconds(i64::from(query.since_s.unwrap_or(86_400)));
    Ok(Json(state.namespace_activity(&caller, &ns, since).await?))
}
