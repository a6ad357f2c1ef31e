//! Saved test requests of a function, as the test panel lists, opens, saves and deletes them.

use axum::response::Response;

use super::FormData;
use super::test_panel::RequestForm;
use crate::ConsoleState;
use crate::render::PageResult;
use crate::session::Signed;

pub struct SavedRow {
    pub name: String,
    pub method: String,
    pub path: String,
}

pub async fn list(_: &ConsoleState, _: &Signed, _: &str, _: &str) -> Vec<SavedRow> {
    Vec::new()
}

pub async fn get(
    _: &ConsoleState,
    _: &Signed,
    _: &str,
    _: &str,
    _: &str,
) -> PageResult<Option<RequestForm>> {
    Ok(None)
}

pub async fn save(
    _: &ConsoleState,
    _: &Signed,
    _: &str,
    _: &str,
    _: &FormData,
) -> PageResult<Response> {
    Err(gust_engine::Error::conflict("saving test requests needs a newer server").into())
}
