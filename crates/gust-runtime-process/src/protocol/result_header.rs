//! Frame headers read by hand. Every request's answer is a `result` header, and serde's
//! general path (a struct of optional fields, a map of headers) costs several times the rest
//! of the frame's handling. This reads the flat objects workers send: members whose values
//! are strings, whole non-negative numbers, booleans or null, and `headers` as an object of
//! strings. Anything else (a header given a list, an unknown member, a duplicate, a fraction,
//! malformed JSON) returns `None`, and the caller reads the line with serde_json, which stays
//! the reference for what a header means and words the errors.

use std::borrow::Cow;

use super::{Kind, WorkerMessage};

pub(super) fn parse(line: &[u8]) -> Option<WorkerMessage> {
    let mut c = Cursor { s: line, i: 0 };
    let mut message = WorkerMessage::default();
    let mut seen = 0u32;
    c.eat(b'{')?;
    if c.peek()? == b'}' {
        c.i += 1;
    } else {
        loop {
            let key = c.string()?;
            c.eat(b':')?;
            let bit = match &*key {
                "type" => {
                    message.kind = Kind::from_name(&c.string()?);
                    0
                }
                "id" => {
                    message.id = c.opt_number()?;
                    1
                }
                "len" => {
                    message.len = usize::try_from(c.number()?).ok()?;
                    2
                }
                "status" => {
                    message.status = match c.opt_number()? {
                        Some(n) => Some(u16::try_from(n).ok()?),
                        None => None,
                    };
                    3
                }
                "headers" => {
                    message.headers = c.headers()?;
                    4
                }
                "error" => {
                    message.error = c.opt_string()?;
                    5
                }
                "stdout" => {
                    message.stdout = c.opt_string()?;
                    6
                }
                "stderr" => {
                    message.stderr = c.opt_string()?;
                    7
                }
                "truncated" => {
                    message.truncated = c.boolean()?;
                    8
                }
                "stream" => {
                    message.stream = c.opt_string()?;
                    9
                }
                "message" => {
                    message.message = c.opt_string()?;
                    10
                }
                "import_us" => {
                    message.import_us = c.opt_number()?;
                    11
                }
                "interpreter_us" => {
                    message.interpreter_us = c.opt_number()?;
                    12
                }
                "protocol" => {
                    message.protocol = match c.opt_number()? {
                        Some(n) => Some(u32::try_from(n).ok()?),
                        None => None,
                    };
                    13
                }
                _ => return None,
            };
            if seen & (1 << bit) != 0 {
                return None;
            }
            seen |= 1 << bit;
            match c.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    c.ws();
    // Without a type serde refuses the frame (and says why).
    (c.i == line.len() && seen & 1 != 0).then_some(message)
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.i += 1;
        Some(b)
    }

    fn eat(&mut self, want: u8) -> Option<()> {
        (self.next()? == want).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.ws();
        let end = self.i + word.len();
        (self.s.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A string; one with escapes is decoded by serde_json.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.i;
        let s = self.s;
        let mut j = start;
        loop {
            match *s.get(j)? {
                b'"' => {
                    self.i = j + 1;
                    return std::str::from_utf8(&s[start..j]).ok().map(Cow::Borrowed);
                }
                b'\\' => break,
                b if b < 0x20 => return None,
                _ => j += 1,
            }
        }
        // Find the closing quote past the escapes, then let serde_json decode them.
        while j < s.len() {
            match s[j] {
                b'\\' => j += 2,
                b'"' => {
                    self.i = j + 1;
                    return serde_json::from_slice::<String>(&s[start - 1..=j])
                        .ok()
                        .map(Cow::Owned);
                }
                _ => j += 1,
            }
        }
        None
    }

    fn is_null(&mut self) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal(b"null")?;
            return Some(true);
        }
        Some(false)
    }

    fn opt_string(&mut self) -> Option<Option<String>> {
        if self.is_null()? {
            return Some(None);
        }
        Some(Some(self.string()?.into_owned()))
    }

    /// A whole non-negative number (what every numeric member is); others go to serde.
    fn number(&mut self) -> Option<u64> {
        self.ws();
        let start = self.i;
        let mut n: u64 = 0;
        while let Some(d @ b'0'..=b'9') = self.s.get(self.i) {
            n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
            self.i += 1;
        }
        let digits = self.i - start;
        // A leading zero, a fraction or an exponent: not this reader's business.
        let plain = digits == 1 || (digits > 1 && self.s[start] != b'0');
        let ends = !matches!(self.s.get(self.i), Some(b'.' | b'e' | b'E'));
        (plain && ends).then_some(n)
    }

    fn opt_number(&mut self) -> Option<Option<u64>> {
        if self.is_null()? {
            return Some(None);
        }
        Some(Some(self.number()?))
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal(b"true").map(|()| true),
            b'f' => self.literal(b"false").map(|()| false),
            _ => None,
        }
    }

    /// `{"name": "value", …}` or null; a value that is not a string sends the line to serde.
    fn headers(&mut self) -> Option<Vec<(String, String)>> {
        if self.is_null()? {
            return Some(Vec::new());
        }
        self.eat(b'{')?;
        let mut pairs = Vec::new();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(pairs);
        }
        loop {
            let name = self.string()?.into_owned();
            self.eat(b':')?;
            pairs.push((name, self.string()?.into_owned()));
            match self.next()? {
                b',' => continue,
                b'}' => return Some(pairs),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json reads from `line`, in the same shape (Debug) as the hand reader's.
    fn by_serde(line: &str) -> Option<String> {
        serde_json::from_str::<WorkerMessage>(line)
            .ok()
            .map(|m| format!("{m:?}"))
    }

    #[test]
    fn headers_read_by_hand_match_serde_or_are_left_to_it() {
        let lines = [
            r#"{"type":"result","id":1,"status":200,"headers":{"content-type":"text/plain"},"len":5}"#,
            r#"{"type":"result","id":18446744073709551615,"headers":{}}"#,
            r#"{"type":"result","id":2,"error":"boom","stderr":"Traceback:\n  \"x\" \u00e9\\","truncated":true}"#,
            r#" { "type" : "log" , "id" : 3 , "stream" : "stderr" , "len" : 0 } "#,
            r#"{"type":"hello","protocol":1,"interpreter_us":null,"stdout":null}"#,
            r#"{"type":"loaded","import_us":1234}"#,
            r#"{"type":"error","message":"no module main.py"}"#,
            r#"{"type":"made-up","headers":null,"status":null}"#,
            r#"{"type":"result","headers":{"é":"ü ☃","a":"1"},"truncated":false}"#,
            // Left to serde, which may accept or refuse them.
            r#"{"type":"result","headers":{"x":["a","b"],"n":5}}"#,
            r#"{"type":"hello","exec_ns":"123"}"#,
            r#"{"type":"result","id":1,"id":2}"#,
            r#"{"type":"result","status":70000}"#,
            r#"{"type":"result","status":2e2}"#,
            r#"{"type":"result","id":01}"#,
            r#"{"type":"result","id":-1}"#,
            r#"{"type":"result","unknown":1}"#,
            r#"{"type":"result","len":3"#,
            r#"{"type":"result"} x"#,
            r#"{"type":"res"#,
            "{\"type\":\"re\tsult\"}",
            r#"{"type":"result","headers":[]}"#,
            r#"{"type":"result","truncated":1}"#,
            r#"{"type":"result","stdout":"a\"}"#,
            r#"{}"#,
        ];
        let mut by_hand = 0;
        for line in lines {
            let serde = by_serde(line);
            if let Some(hand) = parse(line.as_bytes()) {
                by_hand += 1;
                assert_eq!(Some(format!("{hand:?}")), serde, "{line}");
            }
        }
        assert_eq!(by_hand, 9, "the common headers are read by hand");
    }
}
