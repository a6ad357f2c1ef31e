//! Resource ids: UUIDv7 strings. Being time-ordered, sorting by id is sorting by creation, which
//! is what cursor pagination relies on.

/// A fresh, time-ordered, globally unique id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` has the shape of an id (so `{fn}` in a path can be told from a name).
pub fn looks_like_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}
