//! Spec problems with their place in the file, rendered like a compiler's.

use std::fmt::Write as _;

use serde::Serialize;

use super::positions::Pos;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a spec: a stable code, the field path, where it stands, what to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable rule id, e.g. `spec::unknown-field`.
    pub code: &'static str,
    pub message: String,
    /// Field path such as `device_types[0].metrics[1].range`; empty for the whole document.
    pub path: String,
    pub file: String,
    #[serde(flatten)]
    pub pos: Option<Pos>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// A loaded spec file: its name as given and its text, for carets.
#[derive(Debug, Clone)]
pub struct SourceFile {
    pub name: String,
    pub text: String,
}

/// Renders `error[code]: message`, `--> file:line:col`, the source line with a caret, `help:`.
pub fn render_human(diagnostic: &Diagnostic, source: Option<&SourceFile>) -> String {
    let mut out = String::new();
    let label = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let _ = writeln!(out, "{label}[{}]: {}", diagnostic.code, diagnostic.message);
    match diagnostic.pos {
        Some(pos) => {
            let number = pos.line.to_string();
            let pad = " ".repeat(number.len());
            let _ = writeln!(out, "{pad}--> {}:{}:{}", diagnostic.file, pos.line, pos.column);
            if let Some(line) = source.and_then(|s| s.text.lines().nth(pos.line.saturating_sub(1))) {
                // Tabs would shift the caret; show them as single spaces.
                let shown: String = mask_credentials(line)
                    .chars()
                    .map(|c| if c == '\t' { ' ' } else { c })
                    .collect();
                let caret_at = shown.chars().take(pos.column.saturating_sub(1)).count();
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{number} | {shown}");
                let _ = writeln!(out, "{pad} | {}^", " ".repeat(caret_at));
            }
        }
        None => {
            let _ = writeln!(out, " --> {}", diagnostic.file);
        }
    }
    let pad = " ".repeat(diagnostic.pos.map_or(1, |p| p.line.to_string().len()));
    if !diagnostic.path.is_empty() {
        let _ = writeln!(out, "{pad} = field: {}", diagnostic.path);
    }
    if let Some(help) = &diagnostic.help {
        let _ = writeln!(out, "{pad} = help: {help}");
    }
    out
}

/// Masks the password of any `scheme://user:password@host` in a quoted source line, so a
/// diagnostic about a leaked secret does not leak it again into CI logs.
pub fn mask_credentials(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ']' | '}'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let credentials = &authority[..at];
                match credentials.split_once(':') {
                    Some((user, _)) => out.push_str(&format!("{user}:***")),
                    None => out.push_str("***"),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// GitHub Actions workflow command: an annotation on the spec's line.
pub fn render_github(diagnostic: &Diagnostic) -> String {
    let level = match diagnostic.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let mut location = format!("file={}", escape_property(&diagnostic.file));
    if let Some(pos) = diagnostic.pos {
        let _ = write!(location, ",line={},col={}", pos.line, pos.column);
    }
    let mut message = diagnostic.message.clone();
    if !diagnostic.path.is_empty() {
        let _ = write!(message, " (field: {})", diagnostic.path);
    }
    if let Some(help) = &diagnostic.help {
        let _ = write!(message, "\nhelp: {help}");
    }
    format!(
        "::{level} {location},title={}::{}",
        escape_property(diagnostic.code),
        escape_data(&message)
    )
}

fn escape_data(text: &str) -> String {
    text.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code: "spec::bad",
            message: "value is wrong".into(),
            path: "a.b".into(),
            file: "p.yaml".into(),
            pos: Some(Pos { line: 2, column: 6 }),
            help: Some("fix it".into()),
        }
    }

    #[test]
    fn human_points_with_a_caret() {
        let source = SourceFile {
            name: "p.yaml".into(),
            text: "a:\n  b: 42\n".into(),
        };
        let text = render_human(&sample(), Some(&source));
        assert_eq!(
            text,
            "error[spec::bad]: value is wrong\n --> p.yaml:2:6\n  |\n2 |   b: 42\n  |      ^\n  = field: a.b\n  = help: fix it\n"
        );
    }

    #[test]
    fn masks_credentials_in_quoted_lines() {
        assert_eq!(
            mask_credentials("  - nats://admin:hunter2@nats:4222"),
            "  - nats://admin:***@nats:4222"
        );
        assert_eq!(
            mask_credentials("url: \"tls://token@h:1\", x"),
            "url: \"tls://***@h:1\", x"
        );
        assert_eq!(mask_credentials("plain text"), "plain text");
    }

    #[test]
    fn github_escapes_newlines_and_commas() {
        let line = render_github(&sample());
        assert_eq!(
            line,
            "::error file=p.yaml,line=2,col=6,title=spec%3A%3Abad::value is wrong (field: a.b)%0Ahelp: fix it"
        );
    }
}
