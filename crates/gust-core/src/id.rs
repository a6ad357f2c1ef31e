//! Resource ids: UUIDv7 strings. Being time-ordered, sorting by id is sorting by creation, which
//! is what cursor pagination relies on.

/// A fresh, time-ordered, globally unique id.
pub fn new_id() -> String {
    // Every invocation mints one: written straight into its string, not through `Display`.
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    uuid::Uuid::now_v7()
        .hyphenated()
        .encode_lower(&mut text)
        .to_owned()
}

/// Whether `s` has the shape of an id (so `{fn}` in a path can be told from a name).
pub fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

/// The smallest id that can be minted at `time`: ids sort by time, so `id >= id_floor(t)` selects
/// what was created at or after `t` through the primary key alone.
pub fn id_floor(time: chrono::DateTime<chrono::Utc>) -> String {
    let ms = time.timestamp_millis().max(0) as u64;
    format!(
        "{:08x}-{:04x}-7000-8000-000000000000",
        ms >> 16,
        ms & 0xffff
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_lower_case_hyphenated_uuids() {
        let id = super::new_id();
        assert!(super::looks_like_id(&id), "{id}");
        assert_eq!(id, uuid::Uuid::parse_str(&id).unwrap().to_string());
    }

    #[test]
    fn id_floor_orders_with_minted_ids() {
        let before = super::id_floor(crate::now());
        let id = super::new_id();
        let after = super::id_floor(crate::now() + chrono::Duration::milliseconds(2));
        assert!(before <= id && id < after, "{before} {id} {after}");
    }
}
