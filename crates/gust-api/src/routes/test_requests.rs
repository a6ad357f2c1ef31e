//! `/api/v1/namespaces/{ns}/functions/{fn}/test-requests[/{name}]`: saved test requests of a
//! function. `POST` saves a new name (409 when taken), `PUT` saves under the path's name,
//! creating or replacing.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{TestRequest, TestRequestSpec};
use gust_engine::{Caller, Error};

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/test-requests", tag = "test-requests",
    params(("ns" = String, Path), ("fn" = String, Path)),
    responses((status = 200, body = Vec<TestRequest>), (status = 404, body = ErrorBody)))]
pub async fn list_test_requests(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
) -> ApiResult<Json<Vec<TestRequest>>> {
    Ok(Json(state.list_test_requests(&caller, &ns, &f).await?))
}

#[utoipa::path(post, path = "/api/v1/namespaces/{ns}/functions/{fn}/test-requests", tag = "test-requests",
    params(("ns" = String, Path), ("fn" = String, Path)), request_body = TestRequestSpec,
    responses((status = 201, body = TestRequest), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_test_request(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f)): ApiPath<(String, String)>,
    ApiJson(spec): ApiJson<TestRequestSpec>,
) -> ApiResult<(StatusCode, Json<TestRequest>)> {
    let saved = state.create_test_request(&caller, &ns, &f, spec).await?;
    Ok((StatusCode::CREATED, Json(saved)))
}

#[utoipa::path(get, path = "/api/v1/namespaces/{ns}/functions/{fn}/test-requests/{name}", tag = "test-requests",
    params(("ns" = String, Path), ("fn" = String, Path), ("name" = String, Path)),
    responses((status = 200, body = TestRequest), (status = 404, body = ErrorBody)))]
pub async fn get_test_request(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, name)): ApiPath<(String, String, String)>,
) -> ApiResult<Json<TestRequest>> {
    Ok(Json(state.get_test_request(&caller, &ns, &f, &name).await?))
}

#[utoipa::path(put, path = "/api/v1/namespaces/{ns}/functions/{fn}/test-requests/{name}", tag = "test-requests",
    params(("ns" = String, Path), ("fn" = String, Path), ("name" = String, Path)), request_body = TestRequestSpec,
    responses((status = 200, body = TestRequest), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_test_request(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, name)): ApiPath<(String, String, String)>,
    ApiJson(mut spec): ApiJson<TestRequestSpec>,
) -> ApiResult<Json<TestRequest>> {
    match &spec.name {
        Some(given) if *given != name => {
            return Err(Error::invalid(
                "name",
                format!(
                    "is `{given}` but the path names `{name}`; leave it out or make them equal"
                ),
            )
            .into());
        }
        _ => spec.name = Some(name),
    }
    Ok(Json(state.put_test_request(&caller, &ns, &f, spec).await?))
}

#[utoipa::path(delete, path = "/api/v1/namespaces/{ns}/functions/{fn}/test-requests/{name}", tag = "test-requests",
    params(("ns" = String, Path), ("fn" = String, Path), ("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_test_request(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath((ns, f, name)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    state.delete_test_request(&caller, &ns, &f, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}
