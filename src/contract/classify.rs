//! The verdict on one telemetry message, as replay (and a redrive) give it: valid, invalid
//! with the reason the dead letter carries, or not selected by a device filter. The same
//! questions in the same order as `FastContract::accepts`; the JSON Schema is asked only to
//! explain a failure.

use super::fast::{FastContract, subject_matches};
use super::flat::{EventFields, FlatEvent};
use super::payload::PayloadValidator;
use super::reasons;
use crate::spec::event::{envelope, is_canary_device};

pub enum Verdict<'p> {
    /// Valid; its fields, borrowed from the payload.
    Valid(FlatEvent<'p>),
    /// Breaks the contract, for this reason.
    Invalid(String),
    /// Valid or not, another device's event than the one asked for.
    NotSelected,
    /// A valid reading of `iotctl probe`'s canaries: it pages, and counts nowhere.
    Canary,
}

/// Contract check of one source message: JSON, the schema, and subject tokens = payload. The
/// check runs on a borrowed view of the payload; a `serde_json::Value` is built only to explain
/// a failure.
/// `(subject, published_ms)`: the message's subject and when the telemetry stream stored it.
pub fn classify<'p>(
    fast: &FastContract,
    validator: &PayloadValidator,
    (subject, published_ms): (&str, i64),
    payload: &'p [u8],
    device: Option<&str>,
) -> Verdict<'p> {
    let flat = match FlatEvent::parse(payload) {
        Ok(flat) => flat,
        Err(e) => return Verdict::Invalid(format!("{}: {e}", reasons::unparseable(payload))),
    };
    if !flat.is_object() {
        return Verdict::Invalid(reasons::NOT_JSON_OBJECT.to_string());
    }
    if let Err(reason) = reasons::check_parsed(payload) {
        return Verdict::Invalid(reason.to_string());
    }
    let event = fast.resolve(&flat);
    if let Some(device) = device
        && event
            .field_at(envelope::DEVICE_ID, "device_id")
            .as_ref()
            .and_then(|d| d.as_str())
            != Some(device)
    {
        return Verdict::NotSelected;
    }
    if !fast.is_valid_fields(&event) {
        // The JSON Schema explains what the fast check refused.
        let value: serde_json::Value = match serde_json::from_slice(payload) {
            Ok(value) => value,
            Err(e) => return Verdict::Invalid(format!("{}: {e}", reasons::NOT_JSON_OBJECT)),
        };
        let reason = match validator.violations(&value).first() {
            Some(first) if first.pointer.is_empty() => first.message.clone(),
            Some(first) => format!("{}: {}", first.pointer, first.message),
            None => "breaks the contract".to_string(),
        };
        return Verdict::Invalid(reason.chars().take(512).collect());
    }
    if let Err(reason) = subject_matches(&event, subject, fast.subjects()) {
        return Verdict::Invalid(reason);
    }
    if let Err(reason) = fast.check_clock_skew(&event, published_ms) {
        return Verdict::Invalid(reason);
    }
    let device_id = event.field_at(envelope::DEVICE_ID, "device_id");
    if device_id
        .as_ref()
        .and_then(|d| d.as_str())
        .is_some_and(is_canary_device)
    {
        return Verdict::Canary;
    }
    Verdict::Valid(flat)
}
