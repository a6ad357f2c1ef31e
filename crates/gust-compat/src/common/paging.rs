//! The seed APIs page with an offset, a cursor (an item's id) and a direction; the engine pages
//! with a cursor or an offset and an order. A [`Window`] asks the engine for enough to cut
//! the dialect's page out of, and cuts it.

use gust_core::list::MAX_LIMIT;
use gust_core::{ListQuery, Order, Page};

/// One page as a dialect's client asked for it.
#[derive(Debug, Clone, Default)]
pub struct Window {
    /// Items wanted; 0 asks only for the total.
    pub limit: u32,
    /// Items to skip (after the cursor, when there is one).
    pub offset: u32,
    /// The id of the item the page starts next to.
    pub cursor: Option<String>,
    /// The page lies before the cursor instead of after it.
    pub before: bool,
    /// Newest first.
    pub newest_first: bool,
}

impl Window {
    /// The engine query that holds this window.
    pub fn query(&self, search: Option<String>) -> ListQuery {
        let walk_back = self.before && self.cursor.is_some();
        let newest_first = self.newest_first != walk_back;
        let (limit, offset) = if self.cursor.is_some() {
            // The engine takes a cursor or an offset, not both: skip by hand past the cursor.
            ((self.limit + self.offset).clamp(1, MAX_LIMIT), None)
        } else {
            (
                self.limit.clamp(1, MAX_LIMIT),
                (self.offset > 0).then_some(self.offset),
            )
        };
        ListQuery {
            limit: Some(limit),
            cursor: self.cursor.clone(),
            offset,
            search: search.filter(|s| !s.is_empty()),
            order: Some(if newest_first {
                Order::Desc
            } else {
                Order::Asc
            }),
        }
    }

    /// This window's items out of the page its [`query`](Self::query) returned, in the
    /// client's order, with the total of all matches.
    pub fn cut<T>(&self, page: Page<T>) -> (Vec<T>, u64) {
        let mut items = page.items;
        if self.cursor.is_some() {
            items.drain(..(self.offset as usize).min(items.len()));
        }
        items.truncate(self.limit as usize);
        if self.before && self.cursor.is_some() {
            items.reverse();
        }
        (items, page.total)
    }
}

/// Every item of an engine list, over as many pages as it takes, oldest first (for dialects
/// whose lists have no pages, or sort and filter on fields the engine does not index).
pub async fn every<T, E, F, Fut>(mut fetch: F) -> Result<Vec<T>, E>
where
    F: FnMut(ListQuery) -> Fut,
    Fut: std::future::Future<Output = Result<Page<T>, E>>,
{
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = fetch(ListQuery {
            limit: Some(MAX_LIMIT),
            cursor: cursor.take(),
            order: Some(Order::Asc),
            ..ListQuery::default()
        })
        .await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(all),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(ids: &[&str]) -> Page<String> {
        Page {
            items: ids.iter().map(|s| s.to_string()).collect(),
            total: 10,
            next_cursor: None,
        }
    }

    #[test]
    fn before_a_cursor_walks_back_and_turns_the_page_round() {
        let w = Window {
            limit: 2,
            cursor: Some("c".into()),
            before: true,
            ..Window::default()
        };
        let q = w.query(None);
        assert_eq!(q.order, Some(Order::Desc));
        assert_eq!(w.cut(page(&["b", "a"])).0, ["a", "b"]);
    }

    #[test]
    fn an_offset_after_a_cursor_is_skipped_by_hand() {
        let w = Window {
            limit: 2,
            offset: 1,
            cursor: Some("a".into()),
            ..Window::default()
        };
        let q = w.query(Some(String::new()));
        assert_eq!((q.limit, q.offset, q.search), (Some(3), None, None));
        assert_eq!(w.cut(page(&["b", "c", "d"])).0, ["c", "d"]);
    }

    #[test]
    fn a_zero_limit_still_counts() {
        let w = Window::default();
        assert_eq!(w.query(None).limit, Some(1));
        let (items, total) = w.cut(page(&["a"]));
        assert!(items.is_empty());
        assert_eq!(total, 10);
    }
}
