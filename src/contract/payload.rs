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

    /// Parses `bytes` as JSON and validates it; unparseable bytes are one violation.
    pub fn check_bytes(&self, bytes: &[u8]) -> Vec<Violation> {
        match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => self.violations(&value),
            Err(e) => vec![Violation {
                pointer: String::new(),
                message: format!("not JSON: {e}"),
            }],
        }
    }
}
