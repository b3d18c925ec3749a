//! Names that become SQL identifiers, NATS subject tokens or JetStream names.
//!
//! They deserialize from any string so that validation can report every bad name in one run;
//! `check` says what is wrong with one, and renderers only ever see checked names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A lowercase identifier: `[a-z][a-z0-9_]*`, at most 63 bytes. Safe as a SQL identifier
/// (PostgreSQL truncates at 63), an Avro name and a NATS subject token.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Ident(String);

pub const IDENT_MAX: usize = 63;

impl Ident {
    pub fn new(text: impl Into<String>) -> Self {
        Ident(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Why this is not a valid identifier, if it is not.
    pub fn check(&self) -> Result<(), String> {
        check_ident(&self.0)
    }
}

pub fn check_ident(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    match chars.next() {
        None => return Err("is empty".into()),
        Some(c) if !c.is_ascii_lowercase() => {
            return Err(format!("`{text}` must start with a lowercase letter a-z"));
        }
        _ => {}
    }
    if let Some(bad) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!(
            "`{text}` contains `{}`; use lowercase letters, digits and underscores",
            bad.escape_default()
        ));
    }
    if text.len() > IDENT_MAX {
        return Err(format!(
            "`{text}` is {} bytes long; the limit is {IDENT_MAX}",
            text.len()
        ));
    }
    Ok(())
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JetStream stream or consumer name: no `.`, `*`, `>`, `/`, `\` or whitespace, ≤ 255 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct StreamName(String);

impl StreamName {
    pub fn new(text: impl Into<String>) -> Self {
        StreamName(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn check(&self) -> Result<(), String> {
        let text = &self.0;
        if text.is_empty() {
            return Err("is empty".into());
        }
        if let Some(bad) = text
            .chars()
            .find(|c| matches!(c, '.' | '*' | '>' | '/' | '\\') || c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "`{}` contains `{}`, which NATS does not allow in stream and consumer names",
                text.escape_default(),
                bad.escape_default()
            ));
        }
        if text.len() > 255 {
            return Err(format!("is {} bytes long; NATS allows 255", text.len()));
        }
        Ok(())
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Joins name parts into an identifier of at most 63 bytes; longer names keep a readable
/// prefix and gain a hash suffix so they stay unique.
pub fn object_name(parts: &[&str]) -> String {
    let name = parts.join("_");
    if name.len() <= IDENT_MAX {
        return name;
    }
    use sha2::Digest;
    let hash = sha2::Sha256::digest(name.as_bytes());
    let mut cut = IDENT_MAX - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    let suffix: String = hash[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}_{suffix}", &name[..cut])
}

pub fn window_label(metric_window: &crate::spec::model::Window) -> String {
    match metric_window.hop {
        Some(hop) => format!("{}_every_{}", metric_window.size.compact(), hop.compact()),
        None => metric_window.size.compact(),
    }
}

pub fn aggregate_name(device_type: &str, metric: &str, window: &crate::spec::model::Window) -> String {
    object_name(&["agg", device_type, metric, &window_label(window)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers() {
        assert!(check_ident("press_line_2").is_ok());
        for bad in ["", "Press", "2press", "press-line", "pr\"ess", "a;drop", "ünicode"] {
            assert!(check_ident(bad).is_err(), "{bad}");
        }
        assert!(check_ident(&"a".repeat(64)).is_err());
    }

    #[test]
    fn stream_names() {
        assert!(StreamName::new("IOT_TELEMETRY").check().is_ok());
        for bad in ["", "a.b", "a b", "a*", "a>", "a/b"] {
            assert!(StreamName::new(bad).check().is_err(), "{bad}");
        }
    }
}
