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

/// The payload-level rules, before any field is looked at: UTF-8, and no escaped NUL. (Whether
/// it is a JSON object is the parser's answer.)
pub fn check_payload(payload: &[u8]) -> Result<(), &'static str> {
    let text = std::str::from_utf8(payload).map_err(|_| NOT_UTF8)?;
    if text.contains(ESCAPED_NUL_TEXT) {
        return Err(ESCAPED_NUL);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_rules() {
        assert_eq!(check_payload(b"{\"a\":\"x\"}"), Ok(()));
        assert_eq!(check_payload(b"{\"a\":\"\xff\"}"), Err(NOT_UTF8));
        assert_eq!(check_payload(br#"{"a":"x\u0000y"}"#), Err(ESCAPED_NUL));
        // A raw NUL byte is UTF-8 but not JSON: the parser refuses it.
        assert_eq!(check_payload(b"{\"a\":\"x\0y\"}"), Ok(()));
    }
}
