//! Dead-letter reasons both engines give in the same words: iotctl's own check (replay,
//! reconcile) and RisingWave's classification (`sql/risingwave/classify.sql.j2`), which renders
//! these texts. Field-level failures keep each engine's own detail (the JSON Schema's message
//! here, the field and rule in RisingWave); every reject has a reason in both.

/// The payload's bytes are not UTF-8.
pub const NOT_UTF8: &str = "payload is not UTF-8";
/// The payload is UTF-8 but not one JSON object.
pub const NOT_JSON_OBJECT: &str = "payload is not a JSON object";
/// A JSON string holds U+0000, which PostgreSQL text (the warehouse) cannot store: accepted,
/// the event would stop the warehouse sink instead of reaching it.
pub const ESCAPED_NUL: &str = "payload contains \\u0000, which the warehouse cannot store";

/// The escape by which a JSON text carries U+0000 (a raw NUL byte is not valid JSON).
pub const ESCAPED_NUL_TEXT: &str = "\\u0000";

/// The dead-letter reason for an event from the future.
pub fn clock_skew(max_clock_skew: &str) -> String {
    format!("ts is more than {max_clock_skew} ahead of the time the event was received")
}

/// Why a payload the JSON parser refused is dead-lettered. RisingWave decodes before it
/// parses, so a payload that is not UTF-8 says so first. Asked only after a parse failed: the
/// parser already checks UTF-8 on the hot path, this is not done twice.
pub fn unparseable(payload: &[u8]) -> &'static str {
    if std::str::from_utf8(payload).is_err() {
        NOT_UTF8
    } else {
        NOT_JSON_OBJECT
    }
}

/// The payload rule after a successful parse (so the payload is UTF-8): no escaped NUL.
pub fn check_parsed(payload: &[u8]) -> Result<(), &'static str> {
    match memchr::memmem::find(payload, ESCAPED_NUL_TEXT.as_bytes()) {
        Some(_) => Err(ESCAPED_NUL),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_rules() {
        assert_eq!(check_parsed(b"{\"a\":\"x\"}"), Ok(()));
        assert_eq!(check_parsed(br#"{"a":"x\u0000y"}"#), Err(ESCAPED_NUL));
        assert_eq!(unparseable(b"{\"a\":\"\xff\"}"), NOT_UTF8);
        // A raw NUL byte is UTF-8 but not JSON.
        assert_eq!(unparseable(b"{\"a\":\"x\0y\"}"), NOT_JSON_OBJECT);
    }
}
