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

    /// This window's items in the client's order, with the total of all matches, out of as
    /// many engine pages as it takes: past a cursor the offset is skipped by hand, and the
    /// offset and the page together may be more than one engine page holds.
    pub async fn load<T, E, F, Fut>(
        &self,
        search: Option<String>,
        mut fetch: F,
    ) -> Result<(Vec<T>, u64), E>
    where
        F: FnMut(ListQuery) -> Fut,
        Fut: std::future::Future<Output = Result<Page<T>, E>>,
    {
        let mut query = self.query(search);
        let mut page = fetch(query.clone()).await?;
        if self.cursor.is_some() {
            let wanted = self.offset as usize + self.limit as usize;
            while page.items.len() < wanted
                && let Some(next) = page.next_cursor.take()
            {
                query.cursor = Some(next);
                let more = fetch(query.clone()).await?;
                page.items.extend(more.items);
                page.next_cursor = more.next_cursor;
            }
        }
        Ok(self.cut(page))
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
    fn an_offset_past_one_engine_page_after_a_cursor_is_still_skipped() {
        // Appwrite allows an offset of 5000 after a cursor; the engine's pages hold 1000.
        let ids: Vec<String> = (0..3000).map(|i| format!("{i:05}")).collect();
        let w = Window {
            limit: 2,
            offset: 1500,
            cursor: Some("00010".into()),
            ..Window::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (items, total) = runtime
            .block_on(w.load(None, |q| {
                let ids = &ids;
                async move {
                    let after = q
                        .cursor
                        .as_ref()
                        .map_or(0, |c| ids.iter().position(|i| i == c).unwrap() + 1);
                    let items: Vec<String> = ids[after..]
                        .iter()
                        .take(q.limit.unwrap() as usize)
                        .cloned()
                        .collect();
                    let next_cursor =
                        (after + items.len() < ids.len()).then(|| items.last().unwrap().clone());
                    Ok::<_, ()>(Page {
                        items,
                        total: 3000,
                        next_cursor,
                    })
                }
            }))
            .unwrap();
        assert_eq!(
            (items, total),
            (vec!["01511".to_string(), "01512".to_string()], 3000)
        );
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

/// Property tests: whatever the window, the items cut out of the engine's pages are the
/// window a client asked for, counted from the cursor in the client's order.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    fn id(n: u32) -> String {
        format!("{n:08}")
    }

    /// The engine's lists: `count` items in creation order; a cursor or an offset, then at most
    /// `limit`, with the cursor of the next page when more follow.
    fn engine(count: u32, q: &ListQuery) -> Page<u32> {
        let mut items: Vec<u32> = (0..count).collect();
        if q.order == Some(Order::Desc) {
            items.reverse();
        }
        let start = match &q.cursor {
            Some(cursor) => items
                .iter()
                .position(|i| id(*i) == *cursor)
                .map_or(0, |p| p + 1),
            None => q.offset.unwrap_or(0) as usize,
        };
        let limit = q.limit.unwrap_or(50).clamp(1, MAX_LIMIT) as usize;
        let rest: Vec<u32> = items.into_iter().skip(start).collect();
        let page: Vec<u32> = rest.iter().copied().take(limit).collect();
        let next_cursor = (rest.len() > page.len()).then(|| id(*page.last().unwrap()));
        Page {
            items: page,
            total: u64::from(count),
            next_cursor,
        }
    }

    /// The window as the seed APIs define it, over the whole list in the client's order.
    fn expected(count: u32, w: &Window, cursor: Option<u32>) -> Vec<u32> {
        let mut all: Vec<u32> = (0..count).collect();
        if w.newest_first {
            all.reverse();
        }
        let (offset, limit) = (w.offset as usize, w.limit as usize);
        match cursor.and_then(|c| all.iter().position(|i| *i == c)) {
            None => all.into_iter().skip(offset).take(limit).collect(),
            Some(p) if !w.before => all[p + 1..]
                .iter()
                .copied()
                .skip(offset)
                .take(limit)
                .collect(),
            Some(p) => {
                let mut page: Vec<u32> = all[..p]
                    .iter()
                    .rev()
                    .copied()
                    .skip(offset)
                    .take(limit)
                    .collect();
                page.reverse();
                page
            }
        }
    }

    proptest! {
        #![proptest_config(crate::common::testing::config(256))]

        #[test]
        fn windows_hold_what_the_client_asked_for(
            count in prop_oneof![0u32..30, 0u32..3000],
            limit in 0u32..=100,
            offset in prop_oneof![0u32..5, 0u32..=5000],
            cursor in proptest::option::of(any::<prop::sample::Index>()),
            before in any::<bool>(),
            newest_first in any::<bool>(),
        ) {
            let cursor = cursor.filter(|_| count > 0).map(|c| c.index(count as usize) as u32);
            let w = Window {
                limit,
                offset,
                cursor: cursor.map(id),
                before,
                newest_first,
            };
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let (items, total) = runtime
                .block_on(w.load(None, |q| async move { Ok::<_, ()>(engine(count, &q)) }))
                .unwrap();
            prop_assert_eq!(total, u64::from(count));
            prop_assert_eq!(items, expected(count, &w, cursor));
        }
    }
}
