//! `/api/v1/tokens[/{id}]`: admin only. The secret appears once, in the creation response.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use gust_core::{ListQuery, Page, Token, TokenSpec};
use gust_engine::Caller;

use crate::ApiState;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(ListQuery),
    responses((status = 200, body = Page<Token>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<ApiState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Token>>> {
    Ok(Json(state.list_tokens(&caller, &query).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenSpec,
    responses((status = 201, body = Token, description = "The token, with its secret in `token` (shown only here)"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<ApiState>,
    caller: Caller,
    ApiJson(spec): ApiJson<TokenSpec>,
) -> ApiResult<(StatusCode, Json<Token>)> {
    let token = state.create_token(&caller, spec).await?;
    Ok((StatusCode::CREATED, Json(token)))
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Token), (status = 404, body = ErrorBody)))]
pub async fn get_token(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Token>> {
    Ok(Json(state.get_token(&caller, &id).await?))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_token(
    State(state): State<ApiState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.delete_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
