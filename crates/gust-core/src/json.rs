//! JSON written by hand, for the few documents written once per request (a worker's invoke
//! frame, an execution record), where serde's general path costs several times more. Output
//! is exactly what serde_json writes for the same values.

/// `s` as a JSON string. Text with nothing to escape, the usual case, is copied as is; the
/// rest goes through serde_json, which escapes exactly `"`, `\` and control characters.
#[inline]
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        serde_json::to_writer(&mut *out, s).expect("a string is JSON");
    }
}

#[inline]
pub fn push_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// An object's members, each preceded by a comma but the first.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl<'a> Object<'a> {
    #[inline]
    pub fn open(out: &'a mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Starts member `name`, one of this program's own field names (written as is); its
    /// value is written next, into the returned buffer.
    #[inline]
    pub fn key(&mut self, name: &'static str) -> &mut Vec<u8> {
        debug_assert!(name.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\'));
        self.comma();
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// Starts a member whose name comes from data (escaped as JSON).
    #[inline]
    pub fn key_from(&mut self, name: &str) -> &mut Vec<u8> {
        self.comma();
        push_str(self.out, name);
        self.out.push(b':');
        self.out
    }

    #[inline]
    fn comma(&mut self) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
    }

    #[inline]
    pub fn str(&mut self, name: &'static str, value: &str) {
        push_str(self.key(name), value);
    }

    #[inline]
    pub fn u64(&mut self, name: &'static str, value: u64) {
        push_u64(self.key(name), value);
    }

    #[inline]
    pub fn bool(&mut self, name: &'static str, value: bool) {
        let out = self.key(name);
        out.extend_from_slice(if value { b"true" } else { b"false" });
    }

    /// A map of strings, in its own order (a `BTreeMap`'s, as serde writes it).
    pub fn strings<'m>(
        &mut self,
        name: &'static str,
        map: impl IntoIterator<Item = (&'m String, &'m String)>,
    ) {
        let mut inner = Object::open(self.key(name));
        for (k, v) in map {
            push_str(inner.key_from(k), v);
        }
        inner.close();
    }

    #[inline]
    pub fn close(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn strings_match_serde_json() {
        for s in [
            "",
            "plain",
            "quo\"te",
            "back\\slash",
            "tab\there",
            "nl\n",
            "\u{1}\u{1f}",
            "é ☃ 🎉",
            "\u{7f}",
        ] {
            let mut out = Vec::new();
            super::push_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }
}
