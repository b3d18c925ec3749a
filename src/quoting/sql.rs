//! SQL as PostgreSQL, RisingWave and DuckDB read it: identifiers (quoted when not plain or
//! reserved by any of the three), standard string literals, floats that round-trip, and
//! comment text.

/// The reserved keywords of PostgreSQL, DuckDB and RisingWave, from their own lists
/// (`scripts/reserved_keywords.sh`); such identifiers get double quotes.
const RESERVED_KEYWORDS: &str = include_str!("../../sql/reference/reserved-keywords.txt");

pub fn is_reserved(word: &str) -> bool {
    static RESERVED: std::sync::OnceLock<std::collections::HashSet<&'static str>> = std::sync::OnceLock::new();
    RESERVED
        .get_or_init(|| {
            RESERVED_KEYWORDS
                .lines()
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .collect()
        })
        .contains(word)
}

/// A SQL identifier: bare when it is a plain lowercase name, double-quoted otherwise.
pub fn ident(name: &str) -> Result<String, String> {
    if name.contains('\0') {
        return Err(format!("identifier `{}` contains a NUL byte", name.escape_default()));
    }
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_reserved(name);
    Ok(if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    })
}

/// An identifier for SQL that iotctl writes itself, from names a validated spec holds
/// (validation refuses NUL). Should one slip through, it is quoted as written and the database
/// refuses it: never a different name.
pub fn ident_of(name: &str) -> String {
    ident(name).unwrap_or_else(|_| format!("\"{}\"", name.replace('"', "\"\"")))
}

/// `schema.table`, each part an identifier; an error names the part that cannot be one.
pub fn qualified_checked(dotted: &str) -> Result<String, String> {
    dotted
        .split('.')
        .map(ident)
        .collect::<Result<Vec<_>, _>>()
        .map(|parts| parts.join("."))
}

/// `schema.table`, each part an identifier (`ident_of`).
pub fn qualified(dotted: &str) -> String {
    dotted.split('.').map(ident_of).collect::<Vec<_>>().join(".")
}

/// A literal for SQL iotctl writes itself (see `ident_of`).
pub fn literal_of(text: &str) -> String {
    literal(text).unwrap_or_else(|_| format!("'{}'", text.replace('\'', "''")))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_quote_only_when_needed() {
        assert_eq!(ident("telemetry").unwrap(), "telemetry");
        assert_eq!(ident("select").unwrap(), "\"select\"");
        // Reserved by PostgreSQL as a type or function name: once left bare, which broke DDL.
        assert_eq!(ident("similar").unwrap(), "\"similar\"");
        // A keyword none of the three engines reserves stays bare.
        assert_eq!(ident("value").unwrap(), "value");
        assert_eq!(ident("Mixed").unwrap(), "\"Mixed\"");
        assert_eq!(ident("a\"; DROP TABLE x; --").unwrap(), "\"a\"\"; DROP TABLE x; --\"");
        assert!(ident("nul\0").is_err());
        assert_eq!(ident_of("nul\0\""), "\"nul\0\"\"\"");
        assert_eq!(qualified("iot.select"), "iot.\"select\"");
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
