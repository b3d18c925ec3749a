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
        serde_json::from_str(text)
    }
}

impl EventFields for FlatEvent<'_> {
    fn is_object(&self) -> bool {
        self.object
    }

    fn field(&self, name: &str) -> Option<Scalar<'_>> {
        // Keys are short: an inline byte compare beats a call into memcmp per candidate.
        let same = |key: &str| key.len() == name.len() && key.bytes().zip(name.bytes()).all(|(a, b)| a == b);
        self.fields
            .iter()
            .rev()
            .find(|(key, _)| same(key))
            .map(|(_, value)| match value {
                Scalar::Str(s) => Scalar::Str(Cow::Borrowed(s.as_ref())),
                other => other.clone(),
            })
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
