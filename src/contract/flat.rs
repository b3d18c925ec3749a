//! A telemetry payload read without building a `serde_json::Value`: top-level keys and scalar
//! values borrowed from the message bytes (nested values are only noted). Hot paths that read
//! millions of events (reconcile's raw leg) check the contract on this view.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// A top-level JSON value, as far as the contract cares.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Str(Cow<'a, str>),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Null,
    /// An object or array.
    Nested,
}

impl Scalar<'_> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Scalar::Int(i) => Some(i as f64),
            Scalar::UInt(u) => Some(u as f64),
            Scalar::Float(f) => Some(f),
            _ => None,
        }
    }

    pub fn is_integer(&self) -> bool {
        matches!(self, Scalar::Int(_) | Scalar::UInt(_))
    }

    /// The same view of a `serde_json::Value`.
    pub fn of(value: &Value) -> Scalar<'_> {
        match value {
            Value::String(s) => Scalar::Str(Cow::Borrowed(s)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Scalar::Int(i)
                } else if let Some(u) = n.as_u64() {
                    Scalar::UInt(u)
                } else {
                    Scalar::Float(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::Bool(b) => Scalar::Bool(*b),
            Value::Null => Scalar::Null,
            Value::Array(_) | Value::Object(_) => Scalar::Nested,
        }
    }
}

/// Fields of an event, whatever holds them.
pub trait EventFields {
    /// Whether the payload is a JSON object at all.
    fn is_object(&self) -> bool;
    /// A top-level field; with duplicate keys, the last one (as `serde_json` keeps).
    fn field(&self, name: &str) -> Option<Scalar<'_>>;
    /// The contract field at `index` of `event_fields` (named `name`): views that resolved
    /// positions up front answer without comparing names.
    fn field_at(&self, index: usize, name: &str) -> Option<Scalar<'_>> {
        let _ = index;
        self.field(name)
    }
}

impl EventFields for Value {
    fn is_object(&self) -> bool {
        self.is_object()
    }

    fn field(&self, name: &str) -> Option<Scalar<'_>> {
        self.get(name).map(Scalar::of)
    }
}

/// A payload's top-level fields, borrowed from its bytes where no escape forces a copy.
#[derive(Debug, Default)]
pub struct FlatEvent<'a> {
    object: bool,
    fields: Vec<(Cow<'a, str>, Scalar<'a>)>,
}

impl<'a> FlatEvent<'a> {
    pub fn parse(payload: &'a [u8]) -> Result<FlatEvent<'a>, serde_json::Error> {
        // One UTF-8 check of the whole payload is cheaper than one per string, which is what
        // parsing from bytes does; invalid UTF-8 is refused either way.
        let text = std::str::from_utf8(payload)
            .map_err(|_| <serde_json::Error as serde::de::Error>::custom("payload is not UTF-8"))?;
        match scan_flat(text) {
            Some(event) => Ok(event),
            None => serde_json::from_str(text),
        }
    }
}

/// A direct scan of the shape telemetry has — one object of scalars, strings without escapes —
/// giving exactly what serde_json gives (a test compares the two on mutated payloads). Anything
/// else (escapes, nesting, numbers serde_json would turn into floats, malformed JSON) answers
/// `None`, and serde_json parses it or says what is wrong.
fn scan_flat(text: &str) -> Option<FlatEvent<'_>> {
    let b = text.as_bytes();
    let mut i = skip_whitespace(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_whitespace(b, i + 1);
    let mut fields = Vec::with_capacity(16);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let (key, next) = scan_string(text, i + 1)?;
            i = skip_whitespace(b, next);
            if b.get(i) != Some(&b':') {
                return None;
            }
            let (value, next) = scan_scalar(text, skip_whitespace(b, i + 1))?;
            fields.push((Cow::Borrowed(key), value));
            i = skip_whitespace(b, next);
            match b.get(i) {
                Some(b',') => i = skip_whitespace(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_whitespace(b, i) == b.len()).then_some(FlatEvent { object: true, fields })
}

fn skip_whitespace(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// The text of a string starting after its opening quote, and the index after its closing
/// quote; `None` for escapes and control characters.
fn scan_string(text: &str, start: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let mut i = start;
    loop {
        match *b.get(i)? {
            b'"' => return Some((&text[start..i], i + 1)),
            b'\\' => return None,
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

fn scan_scalar(text: &str, i: usize) -> Option<(Scalar<'_>, usize)> {
    let b = text.as_bytes();
    let rest = &b[i.min(b.len())..];
    match *rest.first()? {
        b'"' => {
            let (s, next) = scan_string(text, i + 1)?;
            Some((Scalar::Str(Cow::Borrowed(s)), next))
        }
        b't' if rest.starts_with(b"true") => Some((Scalar::Bool(true), i + 4)),
        b'f' if rest.starts_with(b"false") => Some((Scalar::Bool(false), i + 5)),
        b'n' if rest.starts_with(b"null") => Some((Scalar::Null, i + 4)),
        b'-' | b'0'..=b'9' => scan_number(text, i),
        _ => None,
    }
}

/// A JSON number as serde_json reads it: integers that fit as `Int`/`UInt`, the rest as floats
/// (parsed by serde_json itself, so the rounding is its own). `-0` and integers too large for
/// 64 bits become floats there; they are left to it.
fn scan_number(text: &str, start: usize) -> Option<(Scalar<'_>, usize)> {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        i
    };
    let negative = b[start] == b'-';
    let integer_start = start + usize::from(negative);
    let integer_end = match b.get(integer_start)? {
        b'0' => integer_start + 1,
        b'1'..=b'9' => digits(integer_start),
        _ => return None,
    };
    let mut i = integer_end;
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        let end = digits(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let sign = i + 1 + usize::from(matches!(b.get(i + 1), Some(b'+' | b'-')));
        let end = digits(sign);
        if end == sign {
            return None;
        }
        i = end;
        float = true;
    }
    if float {
        let value: f64 = serde_json::from_str(&text[start..i]).ok()?;
        return Some((Scalar::Float(value), i));
    }
    let magnitude: u64 = text[integer_start..integer_end].parse().ok()?;
    let scalar = if negative {
        if magnitude == 0 || magnitude > i64::MAX as u64 + 1 {
            return None;
        }
        Scalar::Int((magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude)
            .map(Scalar::Int)
            .unwrap_or(Scalar::UInt(magnitude))
    };
    Some((scalar, i))
}

impl<'a> FlatEvent<'a> {
    /// The keys, in payload order (duplicates included).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|(key, _)| key.as_ref())
    }

    /// The value of the `position`-th key.
    pub fn value_at(&self, position: usize) -> Option<Scalar<'_>> {
        self.fields.get(position).map(|(_, value)| match value {
            Scalar::Str(s) => Scalar::Str(Cow::Borrowed(s.as_ref())),
            other => other.clone(),
        })
    }
}

impl EventFields for FlatEvent<'_> {
    fn is_object(&self) -> bool {
        self.object
    }

    fn field(&self, name: &str) -> Option<Scalar<'_>> {
        // Keys are short: an inline byte compare beats a call into memcmp per candidate.
        let same = |key: &str| key.len() == name.len() && key.bytes().zip(name.bytes()).all(|(a, b)| a == b);
        let position = self.fields.iter().rposition(|(key, _)| same(key))?;
        self.value_at(position)
    }
}

struct Text<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Scalar::Str(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                // serde_json's Value stores non-negative integers as u64 but answers as_i64.
                Ok(i64::try_from(v).map(Scalar::Int).unwrap_or(Scalar::UInt(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Scalar::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Scalar::Bool(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Scalar::Null)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar::Nested)
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

impl<'de> Deserialize<'de> for FlatEvent<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EventVisitor;
        impl<'de> Visitor<'de> for EventVisitor {
            type Value = FlatEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut fields = Vec::with_capacity(16);
                while let Some(Text(key)) = map.next_key::<Text>()? {
                    fields.push((key, map.next_value::<Scalar>()?));
                }
                Ok(FlatEvent { object: true, fields })
            }
            // Any other JSON value parses, and is simply not an object.
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(FlatEvent::default())
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(FlatEvent::default())
            }
        }
        deserializer.deserialize_any(EventVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json alone makes of a payload, as text (floats by their bits).
    fn by_serde(text: &str) -> Option<String> {
        serde_json::from_str::<FlatEvent>(text).ok().map(|e| describe(&e))
    }

    fn describe(event: &FlatEvent) -> String {
        let fields: Vec<String> = event
            .fields
            .iter()
            .map(|(k, v)| match v {
                Scalar::Float(f) => format!("{k}=F{:x}", f.to_bits()),
                other => format!("{k}={other:?}"),
            })
            .collect();
        format!("{}{}", event.object, fields.join("|"))
    }

    #[test]
    fn the_direct_scan_agrees_with_serde_json() {
        let edge = [
            r#"{}"#,
            " { } ",
            r#"{"a":-0}"#,
            r#"{"a":-0.0}"#,
            r#"{"a":01}"#,
            r#"{"a":1e400}"#,
            r#"{"a":18446744073709551615}"#,
            r#"{"a":18446744073709551616}"#,
            r#"{"a":9223372036854775807}"#,
            r#"{"a":9223372036854775808}"#,
            r#"{"a":-9223372036854775808}"#,
            r#"{"a":-9223372036854775809}"#,
            r#"{"a":1.5e3,"b":2E-2,"c":0.1,"d":-12.75}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":1e}"#,
            r#"{"a":"x
y"}"#,
            "{\"a\":\"x\u{1}\"}",
            r#"{"a":1,}"#,
            r#"{"a":tru}"#,
            r#"{"a":truex}"#,
            r#"{"a":1}x"#,
            r#"{"a":1}{"#,
            r#"{"a" : "b" , "a" : null , "c" : false , "d" : true }"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":[1,2]}"#,
            r#"[1]"#,
            r#""s""#,
            r#"{"é":"ü"}"#,
            r#"{"a":"#,
            r#"{"a""#,
            r#"{"#,
            "",
        ];
        for text in edge {
            if let Some(scanned) = scan_flat(text) {
                assert_eq!(Some(describe(&scanned)), by_serde(text), "{text}");
            }
            let parsed = FlatEvent::parse(text.as_bytes()).ok().map(|e| describe(&e));
            assert_eq!(parsed, by_serde(text), "{text}");
        }
        // Mutations of real events: every payload the scan accepts, serde_json reads the same.
        let base: Vec<char> = r#"{"event_id":"berlin-press-00001:oil_temperature:1","device_id":"berlin-press-00001","site":"berlin","device_type":"press","metric":"oil_temperature","ts":"2026-11-21T00:01:28.761Z","value":-25.969e0,"seq":12,"firmware_version":"2.0.0","line":null,"ok":true}"#
            .chars()
            .collect();
        let palette: Vec<char> = "\"\\{}[],:.-+eE0123456789 \t\ntfalsenu\u{e9}x\u{1}".chars().collect();
        let mut rng = crate::sample::Rng(7);
        let (mut scanned, mut total) = (0, 0);
        for _ in 0..20_000 {
            let mut text = base.clone();
            for _ in 0..=(rng.next() % 3) {
                let at = (rng.next() as usize) % (text.len() + 1);
                let c = palette[(rng.next() as usize) % palette.len()];
                match rng.next() % 4 {
                    0 if at < text.len() => {
                        text.remove(at);
                    }
                    1 if at < text.len() => text[at] = c,
                    2 => text.insert(at, c),
                    _ => text.truncate(at),
                }
            }
            let text: String = text.into_iter().collect();
            total += 1;
            if let Some(event) = scan_flat(&text) {
                scanned += 1;
                assert_eq!(Some(describe(&event)), by_serde(&text), "{text}");
            }
        }
        // The scan must take most intact-looking payloads, or it proves nothing.
        assert!(scanned > total / 20, "the scan took {scanned} of {total}");
    }

    #[test]
    fn fields_borrow_and_match_the_value_view() {
        let text = br#"{"a":"x","b":-3,"c":18446744073709551615,"d":1.5,"e":true,"f":null,"g":{"h":[1]},"i":"q\"uote","a":"last"}"#;
        let flat = FlatEvent::parse(text).unwrap();
        let value: Value = serde_json::from_slice(text).unwrap();
        for name in ["a", "b", "c", "d", "e", "f", "g", "i", "missing"] {
            assert_eq!(flat.field(name), value.field(name), "{name}");
        }
        assert!(matches!(flat.fields[0].1, Scalar::Str(Cow::Borrowed(_))));
        assert_eq!(flat.field("i").unwrap().as_str(), Some("q\"uote"));
        assert!(!FlatEvent::parse(b"[1,2]").unwrap().is_object());
        assert!(FlatEvent::parse(b"{\"a\":").is_err());
        assert!(FlatEvent::parse(b"{} trailing").is_err());
        assert!(FlatEvent::parse(b"{\"a\":\"\xff\"}").is_err());
        assert!(serde_json::from_slice::<Value>(b"{\"a\":\"\xff\"}").is_err());
    }
}
