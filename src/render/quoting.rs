//! Quoting of identifiers and literals for SQL and YAML. Every user-written name or text that
//! reaches an artifact passes through here (as minijinja filters), so quotes, semicolons,
//! newlines or unicode in a name or description cannot break or inject anything.

/// Words PostgreSQL, RisingWave or DuckDB reserve; such identifiers get double quotes.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
    "source",
    "sink",
    "watermark",
    "emit",
    "materialized",
    "view",
    "secret",
    "schema",
    "qualify",
    "pivot",
    "unpivot",
];

/// A SQL identifier: bare when it is a plain lowercase name, double-quoted otherwise.
pub fn ident(name: &str) -> Result<String, String> {
    if name.contains('\0') {
        return Err(format!("identifier `{}` contains a NUL byte", name.escape_default()));
    }
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    Ok(if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    })
}

/// A standard SQL string literal (`'it''s'`); backslashes are plain characters in standard
/// strings, as in PostgreSQL and RisingWave with standard_conforming_strings.
pub fn literal(text: &str) -> Result<String, String> {
    if text.contains('\0') {
        return Err(format!("text `{}` contains a NUL byte", text.escape_default()));
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// A number as a SQL/YAML float literal that round-trips (`80.0`, `0.1`, `-1e-7`).
pub fn float(value: f64) -> String {
    let text = format!("{value:?}");
    // Debug writes 1e21 as `1e21`: valid SQL, but give it a decimal point for clarity.
    if text.contains('e') && !text.contains('.') {
        text.replacen('e', ".0e", 1)
    } else {
        text
    }
}

/// Free text inside a `--` comment: one line, no control characters.
pub fn comment(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A YAML double-quoted scalar (JSON strings are valid YAML).
pub fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_quote_only_when_needed() {
        assert_eq!(ident("telemetry").unwrap(), "telemetry");
        assert_eq!(ident("select").unwrap(), "\"select\"");
        assert_eq!(ident("Mixed").unwrap(), "\"Mixed\"");
        assert_eq!(ident("a\"; DROP TABLE x; --").unwrap(), "\"a\"\"; DROP TABLE x; --\"");
        assert!(ident("nul\0").is_err());
    }

    #[test]
    fn literals_double_quotes() {
        assert_eq!(literal("it's").unwrap(), "'it''s'");
        assert_eq!(
            literal("x'; DROP SCHEMA iot; --").unwrap(),
            "'x''; DROP SCHEMA iot; --'"
        );
        assert_eq!(literal("ünïcødé \\").unwrap(), "'ünïcødé \\'");
    }

    #[test]
    fn floats_round_trip() {
        for v in [80.0, 0.1, -40.5, 1e21, 1e-7, 123456.789] {
            let text = float(v);
            assert_eq!(text.parse::<f64>().unwrap(), v, "{text}");
            assert!(text.contains('.'), "{text}");
        }
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(
            comment("line one\nDROP TABLE x;\r\n\tend"),
            "line one DROP TABLE x; end"
        );
    }
}
