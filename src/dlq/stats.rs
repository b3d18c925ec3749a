//! `dlq stats`: dead letters counted by reason (with a few example payloads each), by place
//! (site, device type, metric) and by writer, with the first and last time stored.

use std::collections::BTreeMap;

use serde::Serialize;

use super::letter::DeadLetter;
use crate::spec::subjects::TelemetrySubject;

/// Example payloads kept per reason, and their length.
const EXAMPLES: usize = 3;
const EXAMPLE_CHARS: usize = 160;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ReasonCount {
    pub count: u64,
    /// A few payloads, truncated, control characters escaped.
    pub examples: Vec<String>,
    /// Their dead-letter sequences, for `dlq show`.
    pub example_sequences: Vec<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DlqStats {
    pub total: u64,
    /// Reason class → count and examples.
    pub by_reason: BTreeMap<String, ReasonCount>,
    /// `site.device_type.metric` (or `other` for a subject outside the layout) → count.
    pub by_place: BTreeMap<String, u64>,
    pub by_writer: BTreeMap<String, u64>,
    /// Messages of the stream that are neither writer's dead letters.
    pub unreadable: u64,
    pub first_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

impl DlqStats {
    pub fn add(&mut self, letter: &DeadLetter, layout: &TelemetrySubject) {
        self.total += 1;
        let reason = self.by_reason.entry(letter.reason_class()).or_default();
        reason.count += 1;
        if reason.examples.len() < EXAMPLES {
            reason.examples.push(letter.payload_excerpt(EXAMPLE_CHARS));
            reason.example_sequences.push(letter.sequence);
        }
        let place = letter
            .original_subject
            .as_deref()
            .and_then(|s| layout.tokens(s))
            .map_or_else(
                || "other".to_string(),
                |t| format!("{}.{}.{}", t.site, t.device_type, t.metric),
            );
        *self.by_place.entry(place).or_default() += 1;
        *self.by_writer.entry(letter.writer.as_str().to_string()).or_default() += 1;
        self.first_ms = Some(self.first_ms.map_or(letter.stored_ms, |f| f.min(letter.stored_ms)));
        self.last_ms = Some(self.last_ms.map_or(letter.stored_ms, |l| l.max(letter.stored_ms)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dlq::letter::Writer;

    fn letter(sequence: u64, subject: &str, reason: &str) -> DeadLetter {
        DeadLetter {
            sequence,
            stored_ms: sequence as i64 * 1000,
            writer: Writer::Iotctl,
            original_subject: Some(subject.to_string()),
            original_sequence: None,
            original_published_ms: None,
            reason: reason.to_string(),
            payload: format!("payload {sequence}\n").into_bytes(),
            redrive_count: 0,
            headers: Vec::new(),
        }
    }

    #[test]
    fn counts_by_reason_class_and_place_with_a_few_examples() {
        let layout = TelemetrySubject::with_prefix("iot");
        let mut stats = DlqStats::default();
        for (i, value) in [900, 901, 902, 903].iter().enumerate() {
            let reason = format!("/value: {value} is greater than the maximum of 150");
            stats.add(
                &letter(i as u64 + 1, "iot.berlin.press.oil_temperature", &reason),
                &layout,
            );
        }
        stats.add(
            &letter(9, "iot.berlin.press", "subject `iot.berlin.press` is not a layout"),
            &layout,
        );
        assert_eq!(stats.total, 5);
        let range = &stats.by_reason["/value: N is greater than the maximum of N"];
        assert_eq!((range.count, range.examples.len()), (4, 3));
        assert_eq!(range.examples[0], "payload 1\\n");
        assert_eq!(stats.by_place["berlin.press.oil_temperature"], 4);
        assert_eq!(stats.by_place["other"], 1);
        assert_eq!((stats.first_ms, stats.last_ms), (Some(1000), Some(9000)));
    }
}
