//! `/api/v1/tokens[/{id}]`: admin only. The secret appears once, in the creation response.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gust_core::{ListQuery, Page, Scope, Token, TokenSpec};

use crate::auth::{self, Caller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};
use crate::state::Shared;

#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(ListQuery),
    responses((status = 200, body = Page<Token>), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<Shared>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<Page<Token>>> {
    caller.require(Scope::Admin)?;
    query.validate()?;
    Ok(Json(state.store.list_tokens(&query).await?))
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenSpec,
    responses((status = 201, body = Token, description = "The token, with its secret in `token` (shown only here)"), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<Shared>,
    caller: Caller,
    ApiJson(spec): ApiJson<TokenSpec>,
) -> ApiResult<(StatusCode, Json<Token>)> {
    caller.require(Scope::Admin)?;
    let description = spec.description.unwrap_or_default();
    gust_core::validate::text("description", &description, 256)?;
    let scopes = spec
        .scopes
        .unwrap_or_else(|| vec![Scope::Read, Scope::Write, Scope::Invoke]);
    if scopes.is_empty() {
        return Err(ApiError::invalid("scopes", "must name at least one scope"));
    }
    let namespace_id = match spec.namespace {
        Some(key) => Some(
            state
                .store
                .get_namespace(&key)
                .await
                .map_err(|_| ApiError::invalid("namespace", format!("no namespace `{key}`")))?
                .id,
        ),
        None => None,
    };
    if spec.expires_at.is_some_and(|at| at <= gust_core::now()) {
        return Err(ApiError::invalid("expires_at", "must be in the future"));
    }
    let secret = auth::new_secret();
    let hash = auth::hash_secret(&secret);
    let token = Token {
        id: gust_core::new_id(),
        description,
        scopes,
        namespace_id,
        expires_at: spec.expires_at,
        created_at: gust_core::now(),
        token: None,
    };
    state.store.create_token(&token, &hash).await?;
    state.tokens.insert(hash, token.clone());
    Ok((
        StatusCode::CREATED,
        Json(Token {
            token: Some(secret),
            ..token
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 200, body = Token), (status = 404, body = ErrorBody)))]
pub async fn get_token(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Token>> {
    caller.require(Scope::Admin)?;
    Ok(Json(state.store.get_token(&id).await?))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_token(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(Scope::Admin)?;
    if caller.token.id == id {
        return Err(ApiError::conflict("a token cannot delete itself"));
    }
    state.store.delete_token(&id).await?;
    state.tokens.remove(&id);
    Ok(StatusCode::NO_CONTENT)
}
