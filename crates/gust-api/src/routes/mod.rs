//! The `/api/v1` handlers, one module per resource, each handler named `<verb>_<resource>`.
//! Every handler authenticates through the [`Caller`](crate::auth::Caller) extractor, checks the
//! scope it needs, parses input into `gust-core` types and returns JSON or an `ApiError`.

pub mod deployments;
pub mod events;
pub mod executions;
pub mod functions;
pub mod instances;
pub mod logs;
pub mod namespaces;
pub mod openapi;
pub mod runtimes;
pub mod tokens;
pub mod triggers;

use gust_core::{Function, Namespace};

use crate::auth::Caller;
use crate::error::ApiResult;
use crate::state::Shared;

/// Resolve `{ns}` (name or id), checking the caller may touch it.
pub async fn namespace_for(state: &Shared, caller: &Caller, key: &str) -> ApiResult<Namespace> {
    let ns = state.store.get_namespace(key).await?;
    caller.require_namespace(&ns.id)?;
    Ok(ns)
}

/// Resolve `{ns}/{fn}` (names or ids), checking the caller may touch the namespace.
pub async fn function_for(
    state: &Shared,
    caller: &Caller,
    ns: &str,
    function: &str,
) -> ApiResult<(Namespace, Function)> {
    let ns = namespace_for(state, caller, ns).await?;
    let mut function = state.store.get_function(&ns.id, function).await?;
    decorate(state, &mut function);
    Ok((ns, function))
}

/// Fill the derived fields of a function for a response.
pub fn decorate(state: &Shared, function: &mut Function) {
    function.url = format!(
        "{}/fn/{}/{}",
        state.base_url(),
        function.namespace,
        function.name
    );
}
