//! Pagination shared by every list endpoint: `?limit=&cursor=&offset=&search=&order=` in,
//! `{items, total, next_cursor}` out. Cursors are the id of the last item seen; ids are
//! time-ordered, so the order is creation order.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ValidationError, ValidationResult};

/// Most items one page may hold.
pub const MAX_LIMIT: u32 = 1000;
pub const DEFAULT_LIMIT: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// Newest first.
    #[default]
    Desc,
    /// Oldest first.
    Asc,
}

/// List parameters as they arrive in a query string.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Items per page, 1 to 1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
    /// `next_cursor` from the previous page.
    pub cursor: Option<String>,
    /// Items to skip (an alternative to `cursor`).
    pub offset: Option<u32>,
    /// Only items whose name (or description) contains this text.
    pub search: Option<String>,
    /// `desc` (newest first, the default) or `asc`.
    pub order: Option<Order>,
}

impl ListQuery {
    pub fn limit(&self) -> ValidationResult<u32> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        crate::validate::within("limit", limit, 1, MAX_LIMIT)?;
        Ok(limit)
    }

    pub fn validate(&self) -> ValidationResult<()> {
        self.limit()?;
        if self.cursor.is_some() && self.offset.is_some() {
            return Err(ValidationError::new(
                "offset",
                "use either cursor or offset, not both",
            ));
        }
        if let Some(cursor) = &self.cursor
            && crate::validate::custom_id("cursor", cursor).is_err()
        {
            return Err(ValidationError::new(
                "cursor",
                "is not a cursor returned by this API",
            ));
        }
        if let Some(search) = &self.search {
            crate::validate::text("search", search, 256)?;
        }
        Ok(())
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Items matching the filters, over all pages.
    pub total: u64,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
