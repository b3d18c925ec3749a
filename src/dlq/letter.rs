//! One dead letter, whichever engine wrote it:
//! - iotctl (`replay`): the original payload, the reason and origin in `Iotctl-*` headers;
//! - RisingWave (the `rejected_telemetry` sink): one JSON row with `original_subject`,
//!   `reject_reason`, the payload as text (or `payload_base64` when it is not UTF-8) and
//!   `received_at`, on the subject `dlq.{prefix}.risingwave`.
//!
//! Both stay: iotctl dead-letters what a replay reads, RisingWave what arrives live.

use async_nats::HeaderMap;
use base64::Engine;
use serde::Serialize;

/// The original subject of an event iotctl dead-lettered.
pub const HEADER_SUBJECT: &str = "Iotctl-Original-Subject";
/// Its sequence in the telemetry stream.
pub const HEADER_SEQUENCE: &str = "Iotctl-Original-Sequence";
/// When the telemetry stream stored it (nanoseconds since the epoch): the clock-skew check's
/// reference, on a redrive as on the first read.
pub const HEADER_PUBLISHED: &str = "Iotctl-Original-Published";
pub const HEADER_REASON: &str = "Iotctl-Reason";
pub const HEADER_REPLAY: &str = "Iotctl-Replay-Id";
/// How many times the event was redriven: a message can never cycle forever.
pub const HEADER_REDRIVES: &str = "Iotctl-Redrive-Count";
/// A dead letter redriven this many times stays.
pub const MAX_REDRIVES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Writer {
    Iotctl,
    Risingwave,
}

impl Writer {
    /// The writer as stats and gauges name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Writer::Iotctl => "iotctl",
            Writer::Risingwave => "risingwave",
        }
    }
}

/// A dead letter read back from the dead-letter stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeadLetter {
    /// Its sequence in the dead-letter stream: its identity there.
    pub sequence: u64,
    /// When the dead-letter stream stored it (epoch ms).
    pub stored_ms: i64,
    pub writer: Writer,
    pub original_subject: Option<String>,
    /// The telemetry stream's sequence (iotctl's dead letters).
    pub original_sequence: Option<u64>,
    /// When the event first arrived (epoch ms), where the writer recorded it.
    pub original_published_ms: Option<i64>,
    pub reason: String,
    /// The event's bytes as the device sent them.
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub redrive_count: u32,
    /// Every header, for `dlq show`.
    pub headers: Vec<(String, String)>,
}

/// Reads one message of the dead-letter stream. `risingwave_subject` is where RisingWave's
/// sink publishes (`spec::subjects::risingwave_dead_letter_subject`).
pub fn parse(
    (sequence, stored_ms): (u64, i64),
    subject: &str,
    headers: Option<&HeaderMap>,
    payload: &[u8],
    risingwave_subject: &str,
) -> Result<DeadLetter, String> {
    let pairs = header_pairs(headers);
    let header = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let redrive_count = header(HEADER_REDRIVES).and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut letter = DeadLetter {
        sequence,
        stored_ms,
        writer: Writer::Iotctl,
        original_subject: header(HEADER_SUBJECT),
        original_sequence: header(HEADER_SEQUENCE).and_then(|v| v.parse().ok()),
        original_published_ms: header(HEADER_PUBLISHED)
            .and_then(|v| v.parse::<i128>().ok())
            .map(|ns| (ns / 1_000_000) as i64),
        reason: String::new(),
        payload: payload.to_vec(),
        redrive_count,
        headers: pairs.clone(),
    };
    if let Some(reason) = header(HEADER_REASON) {
        letter.reason = reason;
        return Ok(letter);
    }
    if subject != risingwave_subject {
        return Err(format!("neither iotctl's headers nor RisingWave's subject ({subject})"));
    }
    letter.writer = Writer::Risingwave;
    read_risingwave_row(payload, &mut letter)?;
    Ok(letter)
}

fn header_pairs(headers: Option<&HeaderMap>) -> Vec<(String, String)> {
    let Some(headers) = headers else {
        return Vec::new();
    };
    let mut pairs: Vec<(String, String)> = headers
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| (name.to_string(), v.as_str().to_string())))
        .collect();
    pairs.sort();
    pairs
}

/// The row RisingWave's sink wrote for a rejected event.
fn read_risingwave_row(payload: &[u8], letter: &mut DeadLetter) -> Result<(), String> {
    let row: serde_json::Value = serde_json::from_slice(payload).map_err(|e| format!("not a RisingWave row: {e}"))?;
    let text = |key: &str| row.get(key).and_then(|v| v.as_str()).map(str::to_string);
    letter.reason = text("reject_reason").ok_or("a RisingWave row without reject_reason")?;
    letter.original_subject = text("original_subject");
    // RisingWave's NATS sink writes TIMESTAMPTZ as UTC `YYYY-MM-DD HH:MM:SS[.ffffff]`.
    letter.original_published_ms =
        text("received_at").and_then(|t| crate::time::parse_rfc3339_ms(&format!("{}Z", t.replacen(' ', "T", 1))));
    letter.payload = match (text("payload"), text("payload_base64")) {
        (Some(payload), _) => payload.into_bytes(),
        (None, Some(encoded)) => {
            let clean: String = encoded.split_whitespace().collect();
            base64::engine::general_purpose::STANDARD
                .decode(clean)
                .map_err(|e| format!("payload_base64 does not decode: {e}"))?
        }
        (None, None) => return Err("a RisingWave row without its payload".into()),
    };
    Ok(())
}

impl DeadLetter {
    /// The reason with its particulars (numbers, quoted values with digits, subjects) masked,
    /// so that dead letters failing the same rule count together: `/value: 900 is greater than
    /// the maximum of 150` becomes `/value: N is greater than the maximum of N`.
    pub fn reason_class(&self) -> String {
        reason_class(&self.reason)
    }

    /// The payload for display: at most `limit` characters, control characters escaped.
    pub fn payload_excerpt(&self, limit: usize) -> String {
        excerpt(&self.payload, limit)
    }
}

pub fn reason_class(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len());
    let mut chars = reason.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit()
            || (c == '-'
                && chars.peek().is_some_and(char::is_ascii_digit)
                && !out.ends_with(|p: char| p.is_alphanumeric()))
        {
            while chars
                .peek()
                .is_some_and(|n| n.is_ascii_digit() || *n == '.' || *n == 'e' || *n == '-' || *n == '+')
            {
                chars.next();
            }
            out.push('N');
        } else if c == '"' || c == '`' {
            // A quoted name (`"value" is a required property`) says which rule; a quoted value
            // with a digit, or a back-quoted subject, is a particular.
            let quoted: String = chars.by_ref().take_while(|n| *n != c).collect();
            if c == '`' || quoted.contains(|q: char| q.is_ascii_digit()) {
                out.extend([c, '…', c]);
            } else {
                out.extend([c]);
                out.push_str(&quoted);
                out.push(c);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Bytes as text for a terminal: invalid UTF-8 replaced, control characters escaped, cut at
/// `limit` characters with an ellipsis.
pub fn excerpt(bytes: &[u8], limit: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (count, c) in text.chars().enumerate() {
        if count == limit {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RW: &str = "dlq.iot.risingwave";

    #[test]
    fn iotctl_dead_letters_carry_their_origin_in_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER_SUBJECT, "iot.berlin.press.oil_temperature");
        headers.insert(HEADER_SEQUENCE, "42");
        headers.insert(HEADER_PUBLISHED, "1700000000123456789");
        headers.insert(HEADER_REASON, "/value: 900 is greater than the maximum of 150");
        let letter = parse(
            (7, 1),
            "dlq.iot.berlin.press.oil_temperature",
            Some(&headers),
            b"{}",
            RW,
        )
        .unwrap();
        assert_eq!(letter.writer, Writer::Iotctl);
        assert_eq!(letter.original_sequence, Some(42));
        assert_eq!(letter.original_published_ms, Some(1_700_000_000_123));
        assert_eq!(letter.reason_class(), "/value: N is greater than the maximum of N");
        assert_eq!(letter.redrive_count, 0);
    }

    #[test]
    fn risingwave_rows_carry_their_origin_in_the_payload() {
        let row = br#"{"original_subject":"iot.lyon.press.oil_temperature","reject_reason":"unknown site","payload":"{\"site\":\"paris\"}","payload_base64":null,"device_id":null,"ts":null,"received_at":"2026-12-01 10:00:00.250000"}"#;
        let letter = parse((8, 2), RW, None, row, RW).unwrap();
        assert_eq!(letter.writer, Writer::Risingwave);
        assert_eq!(letter.payload, br#"{"site":"paris"}"#);
        assert_eq!(
            letter.original_subject.as_deref(),
            Some("iot.lyon.press.oil_temperature")
        );
        assert_eq!(
            letter.original_published_ms,
            crate::time::parse_rfc3339_ms("2026-12-01T10:00:00.25Z")
        );
        let binary = br#"{"original_subject":"iot.a.b.c","reject_reason":"payload is not UTF-8","payload":null,"payload_base64":"/w==\n"}"#;
        assert_eq!(parse((9, 3), RW, None, binary, RW).unwrap().payload, vec![0xff]);
        assert!(parse((10, 4), "dlq.iot.x", None, b"{}", RW).is_err());
    }

    #[test]
    fn reasons_group_by_rule_and_payloads_print_safely() {
        assert_eq!(reason_class("ts is more than 5m ahead"), "ts is more than Nm ahead");
        assert_eq!(
            reason_class("/value: -3.5e2 is less than the minimum of -20"),
            "/value: N is less than the minimum of N"
        );
        assert_eq!(
            reason_class(r#"/site: "paris" is not one of ["berlin","lyon"]"#),
            r#"/site: "paris" is not one of ["berlin","lyon"]"#
        );
        assert_eq!(
            reason_class(r#""value" is a required property"#),
            r#""value" is a required property"#
        );
        assert_eq!(
            reason_class(r#"/value: "42.5" is not of type "number""#),
            r#"/value: "…" is not of type "number""#
        );
        assert_eq!(
            reason_class("field seq is not an integer"),
            "field seq is not an integer"
        );
        assert_eq!(
            reason_class("payload site does not match subject `iot.a.b.c`"),
            "payload site does not match subject `…`"
        );
        assert_eq!(excerpt(b"a\nb\x1b[31m", 10), "a\\nb\\u{1b}[31m");
        assert_eq!(excerpt("é".repeat(5).as_bytes(), 3), "ééé…");
    }
}
