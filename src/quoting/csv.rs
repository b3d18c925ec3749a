//! CSV fields (RFC 4180), as DuckDB's and PostgreSQL's CSV readers take them.

/// A field always in double quotes, inner quotes doubled: a quoted empty string stays apart
/// from an absent value (an empty field).
pub fn push_quoted(out: &mut String, value: &str) {
    out.push('"');
    if value.contains('"') {
        out.push_str(&value.replace('"', "\"\""));
    } else {
        out.push_str(value);
    }
    out.push('"');
}

/// A field quoted only when it must be: it holds a separator, a quote or a line break, or is
/// empty (an unquoted empty field is NULL).
pub fn push_field(out: &mut String, value: &str) {
    if value.is_empty() || value.contains([',', '"', '\n', '\r']) {
        push_quoted(out, value);
    } else {
        out.push_str(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_quote_what_would_break_a_line() {
        let mut out = String::new();
        for value in ["plain", "a,b", "say \"hi\"", "two\nlines", ""] {
            push_field(&mut out, value);
            out.push('|');
        }
        assert_eq!(out, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"\"|");
        let mut quoted = String::new();
        push_quoted(&mut quoted, "x");
        assert_eq!(quoted, "\"x\"");
    }
}
