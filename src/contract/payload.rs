//! Validating device payloads against the rendered JSON Schema of the telemetry contract.

use serde::Serialize;
use serde_json::Value;

use crate::render::contracts::telemetry_json_schema;
use crate::spec::Spec;

/// A compiled telemetry contract; build once, validate many payloads.
pub struct PayloadValidator {
    validator: jsonschema::Validator,
}

#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// JSON pointer into the payload, e.g. `/value`.
    pub pointer: String,
    pub message: String,
}

impl PayloadValidator {
    pub fn for_spec(spec: &Spec) -> anyhow::Result<PayloadValidator> {
        let schema = telemetry_json_schema(spec);
        let validator = jsonschema::draft202012::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| anyhow::anyhow!("the rendered telemetry schema does not compile: {e}"))?;
        Ok(PayloadValidator { validator })
    }

    pub fn is_valid(&self, payload: &Value) -> bool {
        self.validator.is_valid(payload)
    }

    /// Every violation of `payload` (empty when it conforms).
    pub fn violations(&self, payload: &Value) -> Vec<Violation> {
        self.validator
            .iter_errors(payload)
            .map(|e| Violation {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect()
    }

    /// Parses `bytes` as JSON and validates it; bytes that break a payload rule (UTF-8, no
    /// escaped NUL) or do not parse are one violation.
    pub fn check_bytes(&self, bytes: &[u8]) -> Vec<Violation> {
        let whole = |message: String| {
            vec![Violation {
                pointer: String::new(),
                message,
            }]
        };
        match serde_json::from_slice::<Value>(bytes) {
            Err(e) => whole(format!("{}: {e}", super::reasons::unparseable(bytes))),
            Ok(value) if !value.is_object() => whole(super::reasons::NOT_JSON_OBJECT.to_string()),
            Ok(value) => match super::reasons::check_parsed(bytes) {
                Err(reason) => whole(reason.to_string()),
                Ok(()) => self.violations(&value),
            },
        }
    }
}
