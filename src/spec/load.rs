//! Reading a spec file: bytes → [`Spec`] plus the index of where each field stands.
//!
//! The YAML crate stays behind this module. We use serde_yaml_ng (the maintained successor of
//! the archived serde_yaml, same data model, errors with line and column) with
//! serde_path_to_error for field paths, and saphyr-parser to index positions.

use serde::Deserialize;

use super::diagnostic::{Diagnostic, Severity, SourceFile};
use super::model::Spec;
use super::positions::{Pos, Positions};

/// Specs larger than this are refused before parsing (a spec is a few hundred KiB at most).
pub const MAX_SPEC_BYTES: usize = 16 * 1024 * 1024;

/// A parsed spec with what diagnostics need to point into it.
#[derive(Debug, Clone)]
pub struct LoadedSpec {
    pub spec: Spec,
    pub source: SourceFile,
    pub positions: Positions,
}

/// Parses spec text. On failure returns the structural problem (syntax, unknown key, wrong
/// type) as a diagnostic; semantic checks are `spec::validate`'s job.
pub fn parse(name: &str, bytes: &[u8]) -> Result<LoadedSpec, Vec<Diagnostic>> {
    let error = |code: &'static str, message: String, pos: Option<Pos>, help: Option<String>| {
        vec![Diagnostic {
            severity: Severity::Error,
            code,
            message,
            path: String::new(),
            file: name.to_string(),
            pos,
            help,
        }]
    };
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(error(
            "spec::too-large",
            format!("spec is {} bytes; the limit is {MAX_SPEC_BYTES}", bytes.len()),
            None,
            None,
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let offset = e.valid_up_to();
            let prefix = &bytes[..offset];
            let line = prefix.iter().filter(|b| **b == b'\n').count() + 1;
            let column = offset - prefix.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1) + 1;
            return Err(error(
                "spec::not-utf8",
                "spec is not valid UTF-8".into(),
                Some(Pos { line, column }),
                Some("save the file as UTF-8".into()),
            ));
        }
    };
    if text.trim().is_empty() {
        return Err(error(
            "spec::empty",
            "spec is empty".into(),
            None,
            Some("start from one of the files in examples/".into()),
        ));
    }
    let source = SourceFile {
        name: name.to_string(),
        text: text.to_string(),
    };
    let deserializer = serde_yaml_ng::Deserializer::from_str(text);
    let result: Result<Spec, _> = serde_path_to_error::deserialize(deserializer);
    match result {
        Ok(spec) => Ok(LoadedSpec {
            spec,
            positions: Positions::index(text),
            source,
        }),
        Err(e) => {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner();
            let pos = inner.location().map(|l| Pos {
                line: l.line(),
                column: l.column(),
            });
            Err(vec![structural_diagnostic(name, text, path, &inner.to_string(), pos)])
        }
    }
}

/// Turns a serde error message into a diagnostic with a rule id and, for typos, a suggestion.
fn structural_diagnostic(file: &str, text: &str, path: String, raw: &str, pos: Option<Pos>) -> Diagnostic {
    // serde_yaml_ng prefixes the path and appends " at line L column C"; we show both apart.
    let mut message = strip_locations(raw);
    // serde_yaml_ng may lead with the (parent) path; the diagnostic shows the path apart.
    if let Some((head, rest)) = message.split_once(": ")
        && !head.contains(' ')
        && path.starts_with(head)
    {
        message = rest.to_string();
    }
    let mut help = None;
    let code = if let Some(unknown) = between(&message, "unknown field `", "`") {
        let expected = expected_names(&message);
        help = match did_you_mean(&unknown, &expected) {
            Some(best) => Some(format!("did you mean `{best}`?")),
            None if !expected.is_empty() => Some(format!("known fields here: {}", expected.join(", "))),
            None => None,
        };
        message = format!("unknown field `{unknown}`");
        "spec::unknown-field"
    } else if let Some(variant) = between(&message, "unknown variant `", "`") {
        let expected = expected_names(&message);
        help = match did_you_mean(&variant, &expected) {
            Some(best) => Some(format!("did you mean `{best}`?")),
            None => Some(format!("expected one of: {}", expected.join(", "))),
        };
        message = format!("unknown value `{variant}`");
        "spec::unknown-value"
    } else if message.starts_with("missing field") {
        "spec::missing-field"
    } else if message.contains("duplicate entry") || message.contains("duplicate field") {
        "spec::duplicate-key"
    } else if message.starts_with("invalid type") || message.starts_with("invalid value") {
        "spec::invalid-type"
    } else if message.contains("invalid duration") {
        "spec::invalid-duration"
    } else if path.is_empty()
        || [
            "while scanning",
            "while parsing",
            "found unexpected",
            "did not find expected",
            "found character",
        ]
        .iter()
        .any(|m| message.contains(m))
    {
        "spec::yaml-syntax"
    } else {
        "spec::invalid-value"
    };
    // A missing field is best shown at its parent mapping's key.
    let pos = match code {
        "spec::missing-field" if !path.is_empty() => Positions::index(text).key(&path).or(pos),
        // A bad value is best shown at the value itself.
        "spec::invalid-duration" | "spec::invalid-type" | "spec::invalid-value" | "spec::unknown-value"
            if !path.is_empty() =>
        {
            Positions::index(text).value(&path).or(pos)
        }
        _ => pos,
    };
    Diagnostic {
        severity: Severity::Error,
        code,
        message,
        path,
        file: file.to_string(),
        pos,
        help,
    }
}

/// Removes every " at line L column C" that serde_yaml_ng appends; the caret shows where.
fn strip_locations(raw: &str) -> String {
    let mut message = raw.to_string();
    while let Some(start) = message.find(" at line ") {
        let rest = &message[start + " at line ".len()..];
        let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
        let line_len = digits(rest);
        let after_line = &rest[line_len..];
        let Some(column_part) = after_line.strip_prefix(" column ") else {
            break;
        };
        let end = start + " at line ".len() + line_len + " column ".len() + digits(column_part);
        message.replace_range(start..end, "");
    }
    message
}

fn between(text: &str, start: &str, end: &str) -> Option<String> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(text[from..from + len].to_string())
}

/// The names listed after "expected" in a serde message: `a`, `b` or `c`.
fn expected_names(message: &str) -> Vec<String> {
    let Some(i) = message.find("expected") else {
        return Vec::new();
    };
    message[i..].split('`').skip(1).step_by(2).map(str::to_string).collect()
}

/// The closest known name, if it is close enough to be a likely typo.
pub fn did_you_mean(input: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (edit_distance(input, c), c))
        .filter(|(d, c)| *d <= c.len().max(input.len()).div_ceil(3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost).min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Deserializes any serde type from YAML text; used for inputs other than the spec.
pub fn from_yaml<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    serde_yaml_ng::from_str(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        let names = vec!["thresholds".to_string(), "windows".to_string()];
        assert_eq!(did_you_mean("treshold", &names).as_deref(), Some("thresholds"));
        assert_eq!(did_you_mean("colour", &names), None);
    }

    #[test]
    fn parses_expected_lists() {
        assert_eq!(expected_names("unknown field `x`, expected `a` or `b`"), vec!["a", "b"]);
        assert_eq!(
            expected_names("unknown field `x`, expected one of `a`, `b`, `c`"),
            vec!["a", "b", "c"]
        );
    }
}
