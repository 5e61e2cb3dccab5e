//! Posts in: one JSON object per Kafka message or JSONL line, read without
//! building a `serde_json::Value` (per-post cost dominates on tweets).
//!
//! A [`PostSchema`] says where the id, time and text fields are (JSON
//! pointers); [`PostSchema::parse`] borrows strings from the input whenever
//! they have no escapes and reports a bad post with a [`BadPost`] reason that
//! becomes the dead letter's `kestrel.error`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserializer;
use serde_json::value::RawValue;

/// The default of `posts.max_depth`: arrays and objects nested deeper make
/// a dead letter.
pub const DEFAULT_MAX_DEPTH: usize = 64;

/// The largest `posts.max_depth` (the JSON reader's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// A JSON pointer (RFC 6901), split into unescaped segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pointer {
    text: String,
    segments: Vec<String>,
}

/// A pointer that is not of the form `/a/b`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a JSON pointer to a member (it must start with '/', e.g. \"/text\")")]
pub struct PointerError(pub String);

impl Pointer {
    /// Parses `/a/b`, with `~0` for `~` and `~1` for `/`.
    pub fn parse(text: &str) -> Result<Pointer, PointerError> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError(text.to_string()));
        };
        let segments = rest
            .split('/')
            .map(|s| s.replace("~1", "/").replace("~0", "~"))
            .collect();
        Ok(Pointer {
            text: text.to_string(),
            segments,
        })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Why a message is not a post. Its [`BadPost::code`] is a bounded label for
/// metrics; `Display` is the dead letter's `kestrel.error`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadPost {
    /// Larger than `max_post_bytes`.
    #[error("too_large: {size} bytes is over the limit of {limit}")]
    TooLarge {
        /// The message size.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// Arrays and objects nested deeper than `max_depth`.
    #[error("too_deep: JSON nested more than {0} levels deep")]
    TooDeep(usize),
    /// Not valid UTF-8.
    #[error("not_utf8: invalid UTF-8 at byte {0}")]
    NotUtf8(usize),
    /// Not JSON.
    #[error("not_json: {0}")]
    NotJson(String),
    /// JSON, but not an object.
    #[error("not_object: the post is a JSON {0}, not an object")]
    NotObject(&'static str),
    /// No id at the configured pointer.
    #[error("missing_id: no post id at {0}")]
    MissingId(String),
    /// An id that is not a string or an integer.
    #[error("invalid_id: the post id at {0} is not a string or an integer")]
    InvalidId(String),
    /// A text field that is not a string, and no other field with text.
    #[error("invalid_text: the text field at {0} is not a string")]
    InvalidText(String),
    /// None of the text fields is present.
    #[error("no_text: none of the text fields ({0}) is present")]
    NoText(String),
}

impl BadPost {
    /// A short, bounded reason code.
    pub fn code(&self) -> &'static str {
        match self {
            BadPost::TooLarge { .. } => "too_large",
            BadPost::TooDeep(_) => "too_deep",
            BadPost::NotUtf8(_) => "not_utf8",
            BadPost::NotJson(_) => "not_json",
            BadPost::NotObject(_) => "not_object",
            BadPost::MissingId(_) => "missing_id",
            BadPost::InvalidId(_) => "invalid_id",
            BadPost::InvalidText(_) => "invalid_text",
            BadPost::NoText(_) => "no_text",
        }
    }

    /// Every reason code, for metrics that must be initialised.
    pub const CODES: &'static [&'static str] = &[
        "too_large",
        "not_utf8",
        "not_json",
        "not_object",
        "missing_id",
        "invalid_id",
        "invalid_text",
        "no_text",
        "too_deep",
    ];
}

/// Where the members of a post are.
#[derive(Clone, Debug)]
pub struct PostSchema {
    id: Pointer,
    time: Option<Pointer>,
    text_fields: Vec<(String, Pointer)>,
    max_post_bytes: usize,
    max_depth: usize,
    max_field_bytes: usize,
    /// First segments of every pointer: the only top-level members looked at.
    wanted: Vec<String>,
}

/// A post read from JSON; strings borrow from the input when they can.
#[derive(Clone, Debug, Default)]
pub struct Post<'a> {
    /// The post id, as text (an integer id is kept as its digits).
    pub id: Cow<'a, str>,
    /// The time field's value, as text, if present.
    pub time: Option<Cow<'a, str>>,
    /// `(field name, text)` for every text field present.
    pub fields: Vec<(&'a str, Cow<'a, str>)>,
}

impl<'a> Post<'a> {
    /// The fields as the engine takes them.
    pub fn field_refs<'b>(&'b self, out: &mut Vec<(&'b str, &'b str)>) {
        out.clear();
        out.extend(self.fields.iter().map(|(n, t)| (*n, t.as_ref())));
    }
}

impl PostSchema {
    /// A schema from configuration values.
    pub fn new(
        id: Pointer,
        time: Option<Pointer>,
        text_fields: Vec<(String, Pointer)>,
        max_post_bytes: usize,
    ) -> PostSchema {
        let mut wanted: Vec<String> = Vec::new();
        let firsts = std::iter::once(&id)
            .chain(time.iter())
            .chain(text_fields.iter().map(|(_, p)| p));
        for p in firsts {
            if let Some(first) = p.segments.first() {
                if !wanted.contains(first) {
                    wanted.push(first.clone());
                }
            }
        }
        PostSchema {
            id,
            time,
            text_fields,
            max_post_bytes,
            max_depth: DEFAULT_MAX_DEPTH,
            max_field_bytes: usize::MAX,
            wanted,
        }
    }

    /// The same schema with a nesting limit (at most [`MAX_DEPTH`]) and a
    /// limit on the bytes of each text field that are scanned: a longer
    /// field is cut at the last character boundary within the limit.
    pub fn with_limits(mut self, max_depth: usize, max_field_bytes: usize) -> PostSchema {
        self.max_depth = max_depth.clamp(1, MAX_DEPTH);
        self.max_field_bytes = max_field_bytes.max(1);
        self
    }

    /// The text field names, in configuration order.
    pub fn text_field_names(&self) -> impl Iterator<Item = &str> {
        self.text_fields.iter().map(|(n, _)| n.as_str())
    }

    /// The largest accepted post.
    pub fn max_post_bytes(&self) -> usize {
        self.max_post_bytes
    }

    /// Reads one post from a message value or JSONL line.
    pub fn parse<'a>(&'a self, bytes: &'a [u8]) -> Result<Post<'a>, BadPost> {
        if bytes.len() > self.max_post_bytes {
            return Err(BadPost::TooLarge {
                size: bytes.len(),
                limit: self.max_post_bytes,
            });
        }
        // The fast check first (SIMD, no error position); std's for the
        // position only when the bytes are not UTF-8.
        let text = match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => text,
            Err(_) => {
                let e = std::str::from_utf8(bytes).expect_err("simdutf8 and std disagree");
                return Err(BadPost::NotUtf8(e.valid_up_to()));
            }
        };
        if nested_deeper_than(bytes, self.max_depth) {
            return Err(BadPost::TooDeep(self.max_depth));
        }
        // The usual schema wants a few top-level members: no allocation then.
        let mut on_stack: [Option<&'a RawValue>; 8] = [None; 8];
        let mut on_heap = Vec::new();
        let slots: &mut [Option<&'a RawValue>] = if self.wanted.len() <= on_stack.len() {
            &mut on_stack[..self.wanted.len()]
        } else {
            on_heap.resize(self.wanted.len(), None);
            &mut on_heap
        };
        let mut de = serde_json::Deserializer::from_str(text);
        TopLevel {
            wanted: &self.wanted,
            slots,
        }
        .deserialize(&mut de)
        .map_err(|e| classify(e, text))?;
        de.end().map_err(|e| BadPost::NotJson(e.to_string()))?;

        let find = |p: &'a Pointer| -> Option<&'a RawValue> {
            let first = p.segments.first()?;
            let slot = self.wanted.iter().position(|w| w == first)?;
            let mut raw = slots[slot]?;
            for seg in &p.segments[1..] {
                raw = member(raw, seg)?;
            }
            Some(raw)
        };
        let id_raw = find(&self.id)
            .filter(|r| r.get() != "null")
            .ok_or_else(|| BadPost::MissingId(self.id.text.clone()))?;
        let id = scalar_text(id_raw, true)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| BadPost::InvalidId(self.id.text.clone()))?;
        let time = self
            .time
            .as_ref()
            .and_then(find)
            .and_then(|r| scalar_text(r, false));
        // A field that is not a string is passed over like a missing one when
        // another field has text: the post is bad only with no text to scan.
        let mut fields = Vec::with_capacity(self.text_fields.len());
        let mut mistyped = None;
        for (name, p) in &self.text_fields {
            match find(p) {
                None => {}
                Some(r) if r.get() == "null" => {}
                Some(r) => match json_string(r) {
                    Some(s) => fields.push((name.as_str(), cut(s, self.max_field_bytes))),
                    None => mistyped = mistyped.or(Some(p)),
                },
            }
        }
        if let (true, Some(p)) = (fields.is_empty(), mistyped) {
            return Err(BadPost::InvalidText(p.text.clone()));
        }
        if fields.is_empty() {
            let names: Vec<&str> = self.text_fields.iter().map(|(_, p)| p.as_str()).collect();
            return Err(BadPost::NoText(names.join(", ")));
        }
        Ok(Post { id, time, fields })
    }
}

/// True when arrays and objects nest deeper than `limit` (brackets inside
/// strings do not count). One pass over the bytes, no allocation.
fn nested_deeper_than(bytes: &[u8], limit: usize) -> bool {
    // Depth can only pass the limit with more opening brackets than the
    // limit, which a post seldom has: a count the compiler vectorises
    // settles most posts without following strings byte by byte.
    let opening = bytes
        .iter()
        .fold(0usize, |n, &b| n + usize::from(b == b'{' || b == b'['));
    if opening <= limit {
        return false;
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `text` cut to at most `limit` bytes, at a character boundary.
fn cut(text: Cow<'_, str>, limit: usize) -> Cow<'_, str> {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text {
        Cow::Borrowed(s) => Cow::Borrowed(&s[..end]),
        Cow::Owned(mut s) => {
            s.truncate(end);
            Cow::Owned(s)
        }
    }
}

fn classify(e: serde_json::Error, text: &str) -> BadPost {
    // A parse of something that is valid JSON but not an object reports
    // "invalid type"; say which type it was.
    if e.is_data() {
        let t = text.trim_start();
        let kind = match t.as_bytes().first() {
            Some(b'[') => "array",
            Some(b'"') => "string",
            Some(b't' | b'f') => "boolean",
            Some(b'n') => "null",
            _ => "number",
        };
        return BadPost::NotObject(kind);
    }
    BadPost::NotJson(e.to_string())
}

/// A member of an object, or an element of an array by index.
fn member<'a>(raw: &'a RawValue, seg: &str) -> Option<&'a RawValue> {
    let json = raw.get();
    match json.as_bytes().first() {
        Some(b'{') => {
            let mut de = serde_json::Deserializer::from_str(json);
            let wanted = [seg.to_string()];
            let mut slots = [None];
            TopLevel {
                wanted: &wanted,
                slots: &mut slots,
            }
            .deserialize(&mut de)
            .ok()?;
            slots[0]
        }
        Some(b'[') => {
            let idx: usize = seg.parse().ok()?;
            let mut de = serde_json::Deserializer::from_str(json);
            (&mut de).deserialize_seq(Nth(idx)).ok()?
        }
        _ => None,
    }
}

/// A JSON string, borrowed when it has no escapes.
fn json_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let json = raw.get();
    if !json.starts_with('"') {
        return None;
    }
    let inner = &json[1..json.len() - 1];
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    unescape(inner).map(Cow::Owned)
}

/// The text of a JSON string's inside. A `\u` escape of half a surrogate
/// pair with no other half (as truncated tweets and JavaScript produce) is
/// read as U+FFFD, the replacement character, like any UTF-16 decoder does:
/// such a post is text to scan, not a bad post, so that one stray escape
/// cannot hide a whole post from the rules. None for a malformed escape.
fn unescape(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let esc = rest.as_bytes().get(at + 1)?;
        rest = &rest[at + 2..];
        let c = match esc {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = hex4(rest)?;
                rest = &rest[4..];
                match unit {
                    0xD800..=0xDBFF => {
                        let low = rest.strip_prefix("\\u").and_then(hex4);
                        match low {
                            Some(low @ 0xDC00..=0xDFFF) => {
                                rest = &rest[6..];
                                let c = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                                char::from_u32(c)?
                            }
                            _ => char::REPLACEMENT_CHARACTER,
                        }
                    }
                    0xDC00..=0xDFFF => char::REPLACEMENT_CHARACTER,
                    _ => char::from_u32(unit)?,
                }
            }
            _ => return None,
        };
        out.push(c);
    }
    out.push_str(rest);
    Some(out)
}

/// The four hex digits at the start of `s`.
fn hex4(s: &str) -> Option<u32> {
    let digits = s.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

/// A string, or (when `integers_only` is false) any number, as text; for an
/// id, a number must be an integer.
fn scalar_text(raw: &RawValue, integers_only: bool) -> Option<Cow<'_, str>> {
    let json = raw.get();
    match json.as_bytes().first()? {
        b'"' => json_string(raw),
        b'-' | b'0'..=b'9' => {
            if integers_only && !json.bytes().skip(1).all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some(Cow::Borrowed(json))
        }
        _ => None,
    }
}

struct TopLevel<'s, 'a> {
    wanted: &'s [String],
    slots: &'s mut [Option<&'a RawValue>],
}

impl<'de, 's> DeserializeSeed<'de> for TopLevel<'s, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 's> Visitor<'de> for TopLevel<'s, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.wanted.iter().position(|w| *w == *key) {
                Some(i) => self.slots[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct Nth(usize);

impl<'de> Visitor<'de> for Nth {
    type Value = Option<&'de RawValue>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut i = 0;
        let mut found = None;
        while let Some(v) = seq.next_element::<&'de RawValue>()? {
            if i == self.0 {
                found = Some(v);
            }
            i += 1;
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> PostSchema {
        PostSchema::new(
            Pointer::parse("/id").unwrap(),
            Some(Pointer::parse("/created_at").unwrap()),
            vec![
                ("text".into(), Pointer::parse("/text").unwrap()),
                ("title".into(), Pointer::parse("/meta/title").unwrap()),
            ],
            1000,
        )
    }

    #[test]
    fn reads_id_time_and_fields_borrowed() {
        let s = schema();
        let line = br#"{"id": 7, "x": [1,{"a":2}], "text": "hello", "created_at": "2015-01-06T21:07:00Z", "meta": {"title": "t\u00e9"}}"#;
        let p = s.parse(line).unwrap();
        assert_eq!(p.id, "7");
        assert_eq!(p.time.as_deref(), Some("2015-01-06T21:07:00Z"));
        assert_eq!(p.fields[0].1, "hello");
        assert!(matches!(p.fields[0].1, Cow::Borrowed(_)));
        assert_eq!(p.fields[1], ("title", Cow::Owned("té".to_string())));
    }

    /// One stray surrogate escape must not hide the rest of the post.
    #[test]
    fn unpaired_surrogate_escapes_read_as_replacement_characters() {
        let s = schema();
        for (line, text) in [
            (r#"{"id": 1, "text": "join us \ud83d"}"#, "join us \u{fffd}"),
            (r#"{"id": 1, "text": "\udc00join"}"#, "\u{fffd}join"),
            (r#"{"id": 1, "text": "a\ud83d\u0041"}"#, "a\u{fffd}A"),
            (
                r#"{"id": 1, "text": "a\ud83d\ud83d\ude00"}"#,
                "a\u{fffd}\u{1f600}",
            ),
            (r#"{"id": 1, "text": "x\ud83d\n"}"#, "x\u{fffd}\n"),
        ] {
            let p = s
                .parse(line.as_bytes())
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(p.fields[0].1, text, "{line}");
        }
        let p = s.parse(br#"{"id": "a\ud800", "text": "t"}"#).unwrap();
        assert_eq!(p.id, "a\u{fffd}");
    }

    /// Every string serde_json reads is read the same way here.
    #[test]
    fn unescape_agrees_with_serde_json_on_valid_strings() {
        let mut rng = crate::testrng::TestRng::new(7);
        let pieces = [
            "a",
            "é",
            "\\n",
            "\\\"",
            "\\\\",
            "\\/",
            "\\u00e9",
            "\\ud83d\\ude00",
            "\\t",
            "\\u0000",
            "\\b",
            "\\f",
            "\\r",
            " ",
            "\\u2603",
            "ж",
        ];
        for _ in 0..20_000 {
            let n = (rng.next() % 12) as usize;
            let inner: String = (0..n)
                .map(|_| pieces[(rng.next() % pieces.len() as u64) as usize])
                .collect();
            let want: String = serde_json::from_str(&format!("\"{inner}\"")).unwrap();
            assert_eq!(unescape(&inner).as_deref(), Some(want.as_str()), "{inner}");
        }
    }

    #[test]
    fn bad_posts_say_why() {
        let s = schema();
        assert_eq!(s.parse(b"[1]").unwrap_err().code(), "not_object");
        assert_eq!(s.parse(b"{\"id\":").unwrap_err().code(), "not_json");
        assert_eq!(s.parse(b"nope").unwrap_err().code(), "not_json");
        assert_eq!(
            s.parse(b"{\"text\":\"a\"}").unwrap_err().code(),
            "missing_id"
        );
        assert_eq!(
            s.parse(b"{\"id\":1.5,\"text\":\"a\"}").unwrap_err().code(),
            "invalid_id"
        );
        assert_eq!(
            s.parse(b"{\"id\":true,\"text\":\"a\"}").unwrap_err().code(),
            "invalid_id"
        );
        assert_eq!(s.parse(b"{\"id\":\"1\"}").unwrap_err().code(), "no_text");
        assert_eq!(
            s.parse(b"{\"id\":\"1\",\"text\":5}").unwrap_err().code(),
            "invalid_text"
        );
        assert_eq!(
            s.parse(b"{\"id\":\"1\",\"text\":\"\xff\"}")
                .unwrap_err()
                .code(),
            "not_utf8"
        );
        assert_eq!(s.parse(&[b' '; 1001]).unwrap_err().code(), "too_large");
        assert_eq!(
            s.parse(b"{\"id\":1,\"text\":\"a\"} x").unwrap_err().code(),
            "not_json"
        );
    }

    #[test]
    fn nesting_past_the_limit_is_a_bad_post_and_brackets_in_strings_do_not_count() {
        let s = schema().with_limits(3, usize::MAX);
        let ok = br#"{"id":1,"text":"[[[[[{{{{","x":[[1]]}"#;
        assert!(s.parse(ok).is_ok());
        let deep = br#"{"id":1,"text":"a","x":[[[1]]]}"#;
        assert_eq!(s.parse(deep).unwrap_err(), BadPost::TooDeep(3));
        let escaped = br#"{"id":1,"text":"\"[[[[","x":1}"#;
        assert!(s.parse(escaped).is_ok());
        // The default reads what the JSON reader reads, and stops well
        // before its own limit.
        let d = schema();
        let nested = |n: usize| {
            format!(
                "{{\"id\":1,\"text\":\"a\",\"x\":{}{}}}",
                "[".repeat(n),
                "]".repeat(n)
            )
        };
        assert!(d.parse(nested(DEFAULT_MAX_DEPTH - 1).as_bytes()).is_ok());
        assert_eq!(
            d.parse(nested(DEFAULT_MAX_DEPTH).as_bytes())
                .unwrap_err()
                .code(),
            "too_deep"
        );
    }

    #[test]
    fn a_field_longer_than_the_limit_is_cut_at_a_character_boundary() {
        let s = schema().with_limits(DEFAULT_MAX_DEPTH, 5);
        let p = s
            .parse("{\"id\":1,\"text\":\"abcdéfg\"}".as_bytes())
            .unwrap();
        assert_eq!(p.fields[0].1, "abcd");
        let p = s.parse(br#"{"id":1,"text":"ab\ncdefg"}"#).unwrap();
        assert_eq!(p.fields[0].1, "ab\ncd");
        let p = s.parse(br#"{"id":1,"text":"abc"}"#).unwrap();
        assert_eq!(p.fields[0].1, "abc");
    }

    #[test]
    fn a_missing_field_is_fine_when_another_is_present() {
        let s = schema();
        let p = s.parse(br#"{"id":"a","meta":{"title":"x"}}"#).unwrap();
        assert_eq!(p.fields.len(), 1);
        assert_eq!(p.fields[0].0, "title");
    }

    #[test]
    fn a_field_that_is_not_a_string_is_passed_over_when_another_has_text() {
        let s = schema();
        let p = s
            .parse(br#"{"id":"a","text":42,"meta":{"title":"x"}}"#)
            .unwrap();
        assert_eq!(p.fields, vec![("title", Cow::Borrowed("x"))]);
        // With nothing else to scan it is still a bad post, and says why.
        let e = s
            .parse(br#"{"id":"a","text":42,"meta":{"title":null}}"#)
            .unwrap_err();
        assert_eq!(e.code(), "invalid_text");
    }

    #[test]
    fn pointers_unescape_and_index_arrays() {
        let s = PostSchema::new(
            Pointer::parse("/a~1b").unwrap(),
            None,
            vec![("t".into(), Pointer::parse("/list/1").unwrap())],
            100,
        );
        let p = s.parse(br#"{"a/b":"x","list":["no","yes"]}"#).unwrap();
        assert_eq!(p.id, "x");
        assert_eq!(p.fields[0].1, "yes");
        assert!(Pointer::parse("text").is_err());
    }
}
