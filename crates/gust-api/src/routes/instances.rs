//! `/api/v1/namespaces/{ns}/functions/{fn}/instances`: the live workers of a process function
//! (a Wasm function has none: each request gets a fresh instance), and detaching them all
//! (Qinling's detach): they stop, and the next requests start fresh ones; `…/instances/scale`
//! starts or stops some ahead of demand. `?version=N` names the workers of one version of the
//! function instead.

use axum::Json;
use axum::extract::State;
use gust_engine::Caller;
use gust_engine::ops::{Detached, Instances, ScaleInput, ScaledInstances};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InstancesQuery {
    /// The workers of this version of the function (absent or 0: of its current configuration).
    pub version: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/instances", tag = "functions",
    params(("ns" = String, Path), ("fn" = String, Path), InstancesQuery),
    responses((status = 200, body = Instances), (status = 404, body = ErrorBody)))]
pub async fn list_instances(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<InstancesQuery>,
) -> ApiResult<Json<Instances>> {
    Ok(Json(
        state
            .list_instances(&caller, &ns, &f, query.version)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/instances", tag = "functions",
    params(("ns" = String, Path), ("fn" = String, Path), InstancesQuery),
    responses((status = 200, body = Detached), (status = 404, body = ErrorBody)))]
pub async fn detach_instances(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<InstancesQuery>,
) -> ApiResult<Json<Detached>> {
    Ok(Json(
        state
            .detach_instances(&caller, &ns, &f, query.version)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/instances/scale", tag = "functions",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = ScaleInput,
    responses((status = 200, body = ScaledInstances), (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn scale_instances(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<ScaleInput>,
) -> ApiResult<Json<ScaledInstances>> {
    Ok(Json(
        state
            .scale_instances(&caller, &ns, &f, input.count, input.version)
            .await?,
    ))
}
