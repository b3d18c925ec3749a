//! What RisingWave refuses beyond a statement's shape: interval literals its parser cannot read,
//! a column named twice, a table shape its binder refuses (ENCODE BYTES) or a watermark that
//! drops rows unseen, a bytea function applied to an included payload (jsonb). Each rule
//! comes from a failure iotctl once rendered; docs/risingwave.md names the RisingWave source
//! behind each.

use std::collections::BTreeSet;

use super::ddl_check::{Token, is_kw, tokenize};

/// Units RisingWave's interval parser knows (src/common/src/types/interval.rs,
/// `DateTimeField::from_str`); there is no millisecond unit.
const INTERVAL_UNITS: &[&str] = &[
    "years", "year", "yrs", "yr", "y", "months", "month", "mons", "mon", "days", "day", "d", "hours", "hour", "hrs",
    "hr", "h", "minutes", "minute", "mins", "min", "m", "seconds", "second", "secs", "sec", "s",
];

/// Functions whose first argument must be bytea, as RisingWave declares them
/// (src/expr/impl/src/scalar/encdec.rs: `convert_from(bytea, varchar)`, `encode(bytea, varchar)`).
const BYTEA_FUNCTIONS: &[&str] = &["convert_from", "encode"];

/// Every `INTERVAL '…'` literal is one RisingWave reads.
pub(super) fn check_intervals(tokens: &[Token]) -> Result<(), String> {
    for pair in tokens.windows(2) {
        if let [keyword, Token::Str(text)] = pair
            && is_kw(Some(keyword), "INTERVAL")
        {
            interval_literal(text).map_err(|why| format!("INTERVAL '{text}': {why}"))?;
        }
    }
    Ok(())
}

/// Whether RisingWave's PostgreSQL-style interval parser reads `text`: numbers before a unit
/// are integers (`convert_digit` parses i64), fractions of a second only in `H:MM:SS.fff`
/// (`convert_hms`: minutes below 60, seconds below 61).
pub fn interval_literal(text: &str) -> Result<(), String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err("an empty interval".into());
    }
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        if word.contains(':') {
            hms(word)?;
            i += 1;
            continue;
        }
        if word.parse::<i64>().is_err() {
            return Err(format!(
                "`{word}` is not an integer (RisingWave reads fractions only as H:MM:SS.fff)"
            ));
        }
        match words.get(i + 1) {
            Some(unit) if INTERVAL_UNITS.contains(&unit.to_ascii_lowercase().as_str()) => i += 2,
            Some(unit) => return Err(format!("`{unit}` is not an interval unit RisingWave knows")),
            None => i += 1, // a bare number counts seconds
        }
    }
    Ok(())
}

fn hms(word: &str) -> Result<(), String> {
    let parts: Vec<&str> = word.split(':').collect();
    let bad = || format!("`{word}` is not H:MM:SS");
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(bad());
    }
    parts[0].parse::<i64>().map_err(|_| bad())?;
    if let Some(minutes) = parts.get(1) {
        let minutes: i64 = minutes.parse().map_err(|_| bad())?;
        if !(0..60).contains(&minutes) {
            return Err(bad());
        }
    }
    if let Some(seconds) = parts.get(2) {
        let seconds: f64 = seconds.parse().map_err(|_| bad())?;
        if !(0.0..61.0).contains(&seconds) {
            return Err(bad());
        }
    }
    Ok(())
}

/// A name as RisingWave binds it: unquoted names fold to lower case.
fn bound_name(token: &Token) -> Option<String> {
    match token {
        Token::Word(word) => Some(word.to_ascii_lowercase()),
        Token::QuotedIdent(name) => Some(name.clone()),
        _ => None,
    }
}

/// The items of a CREATE TABLE column list, split at its top-level commas.
fn column_items(columns: &[Token]) -> Vec<&[Token]> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (at, token) in columns.iter().enumerate() {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            Token::Punct(',') if depth == 0 => {
                items.push(&columns[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&columns[start..]);
    items.retain(|item| !item.is_empty());
    items
}

fn is_constraint(item: &[Token]) -> bool {
    ["WATERMARK", "PRIMARY", "CONSTRAINT"]
        .iter()
        .any(|k| is_kw(item.first(), k))
}

/// A generated column: `name TYPE AS expression`.
fn is_generated(item: &[Token]) -> bool {
    item.iter().skip(2).any(|t| is_kw(Some(t), "AS"))
}

/// The column names of a CREATE TABLE column list (constraints and watermarks skipped) and its
/// INCLUDE aliases: each may appear once.
pub(super) fn check_unique_columns(columns: &[Token], included: &[String]) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    let names = column_items(columns)
        .into_iter()
        .filter(|item| !is_constraint(item))
        .filter_map(|item| bound_name(&item[0]));
    for name in names.chain(included.iter().cloned()) {
        if !seen.insert(name.clone()) {
            return Err(format!("column `{name}` is defined twice"));
        }
    }
    Ok(())
}

/// The output columns of a view's query, from its first select list: RisingWave refuses a
/// name twice (src/frontend/src/optimizer/plan_node/derive.rs, "column … specified more than
/// once"). `*` and unnamed expressions are skipped: their names come from elsewhere.
pub(super) fn check_select_list(query: &[Token]) -> Result<(), String> {
    let Some(select) = query.iter().position(|t| is_kw(Some(t), "SELECT")) else {
        return Ok(());
    };
    let mut depth = 0;
    let mut end = query.len();
    for (at, token) in query.iter().enumerate().skip(select + 1) {
        match token {
            Token::Punct('(') => depth += 1,
            Token::Punct(')') => depth -= 1,
            _ if depth == 0 && is_kw(Some(token), "FROM") => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    for item in column_items(&query[select + 1..end]) {
        let alias = item
            .windows(2)
            .rev()
            .find(|w| is_kw(Some(&w[0]), "AS"))
            .and_then(|w| bound_name(&w[1]));
        let name = alias.or_else(|| match item {
            [Token::Word(word)] => word.rsplit('.').next().map(str::to_ascii_lowercase),
            [Token::QuotedIdent(name)] => Some(name.clone()),
            _ => None,
        });
        if let Some(name) = name
            && !seen.insert(name.clone())
        {
            return Err(format!(
                "column `{name}` specified more than once in the view's select list"
            ));
        }
    }
    Ok(())
}

/// What RisingWave's table binder refuses, or its executors silently filter, in a NATS table:
/// - `ENCODE BYTES` takes exactly one non-generated column, of type BYTEA
///   (src/frontend/src/handler/create_source.rs, "ENCODE BYTES only accepts one BYTEA type
///   column"), and no `INCLUDE payload` (e2e_test/source_legacy/basic/kafka.slt);
/// - a `WATERMARK` drops every row below it and every row whose column is NULL
///   (src/stream/src/executor/watermark_filter.rs) before any view classifies it, so only a
///   watermark on a column generated `AS proctime()` (never behind, never NULL) is allowed.
pub(super) fn check_table_shape(columns: &[Token], includes: &[&str], encode: &str) -> Result<(), String> {
    let items = column_items(columns);
    if encode.eq_ignore_ascii_case("BYTES") {
        let stored: Vec<_> = items.iter().filter(|i| !is_constraint(i) && !is_generated(i)).collect();
        if stored.len() != 1 || !is_kw(stored[0].get(1), "BYTEA") {
            return Err("ENCODE BYTES only accepts one BYTEA type column (besides generated ones)".into());
        }
        if includes.iter().any(|what| what.eq_ignore_ascii_case("payload")) {
            return Err("INCLUDE payload is only allowed with ENCODE JSON".into());
        }
    }
    let proctime_columns: BTreeSet<String> = items
        .iter()
        .filter(|item| is_generated(item) && item.iter().any(|t| is_kw(Some(t), "proctime")))
        .filter_map(|item| bound_name(&item[0]))
        .collect();
    for item in items.iter().filter(|i| is_kw(i.first(), "WATERMARK")) {
        let column = item.get(2).and_then(bound_name).unwrap_or_default();
        if !proctime_columns.contains(&column) {
            return Err(format!(
                "WATERMARK FOR {column} drops rows below the watermark and rows whose {column} is NULL before any view sees them; only a proctime() column may carry one"
            ));
        }
    }
    Ok(())
}

/// Session settings a file may wrap its statement in, set before it and back to DEFAULT after,
/// so they apply to that one job (src/common/src/session_config/mod.rs).
const SESSION_SETTINGS: &[&str] = &["streaming_parallelism_for_table", "sink_decouple"];

/// The statement a file wraps in `SET name = value;` … `SET name TO DEFAULT;`: every setting
/// is one iotctl knows and is reset after, and exactly one statement remains.
pub(super) fn unwrap_session_settings(tokens: &[Token]) -> Result<&[Token], String> {
    let mut statements: Vec<&[Token]> = tokens.split_inclusive(|t| *t == Token::Punct(';')).collect();
    let mut set = Vec::new();
    while statements.len() > 1 && is_kw(statements[0].first(), "SET") {
        match statements[0] {
            [
                _,
                Token::Word(name),
                Token::Punct('='),
                Token::Word(_) | Token::Str(_),
                Token::Punct(';'),
            ] => {
                if !SESSION_SETTINGS.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(format!("`SET {name}` is not a session setting iotctl renders"));
                }
                set.push(name.to_ascii_lowercase());
            }
            _ => return Err("malformed SET before the statement".into()),
        }
        statements.remove(0);
    }
    let mut reset = Vec::new();
    while statements.len() > 1 && statements.last().is_some_and(|s| is_kw(s.first(), "SET")) {
        match statements.pop().unwrap_or_default() {
            [_, Token::Word(name), to, default, Token::Punct(';')]
                if is_kw(Some(to), "TO") && is_kw(Some(default), "DEFAULT") =>
            {
                reset.push(name.to_ascii_lowercase());
            }
            _ => return Err("malformed SET … TO DEFAULT after the statement".into()),
        }
    }
    set.sort();
    reset.sort();
    if set != reset {
        return Err(format!(
            "session settings {set:?} are not all reset after the statement"
        ));
    }
    match statements[..] {
        [statement] => Ok(statement),
        _ => Err(format!(
            "expected exactly one statement ending in `;`, found {}",
            statements.len()
        )),
    }
}

/// Checks that need more than one statement: an included payload is jsonb
/// (src/connector/src/parser/additional_columns.rs), so a view may not hand it to a function
/// that takes bytea.
pub fn check_pipeline<'a>(statements: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let tokenized: Vec<Vec<Token>> = statements.into_iter().map(tokenize).collect::<Result<_, _>>()?;
    let payloads: BTreeSet<String> = tokenized.iter().flat_map(|tokens| included_payloads(tokens)).collect();
    for tokens in &tokenized {
        for window in tokens.windows(3) {
            if let [Token::Word(function), Token::Punct('('), argument] = window
                && BYTEA_FUNCTIONS.contains(&function.to_ascii_lowercase().as_str())
                && let Some(argument) = bound_name(argument)
                && payloads.contains(&argument)
            {
                return Err(format!(
                    "`{argument}` is an INCLUDE payload column, which RisingWave types jsonb; {function} takes bytea (cast it to varchar instead)"
                ));
            }
        }
    }
    Ok(())
}

/// Aliases of `INCLUDE payload AS alias` in a statement.
fn included_payloads(tokens: &[Token]) -> Vec<String> {
    tokens
        .windows(4)
        .filter_map(|w| match w {
            [include, what, as_, alias]
                if is_kw(Some(include), "INCLUDE") && is_kw(Some(what), "payload") && is_kw(Some(as_), "AS") =>
            {
                bound_name(alias)
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_literals_risingwave_reads() {
        for ok in [
            "5 seconds",
            "1 minute",
            "1 day",
            "24 hours",
            "00:00:01.500",
            "01:01:30.005",
            "25:00:00.005",
            "90",
        ] {
            interval_literal(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, why) in [
            ("1500 milliseconds", "not an interval unit"),
            ("1.5 seconds", "not an integer"),
            ("00:60:00", "H:MM:SS"),
            ("00:00:61.5", "H:MM:SS"),
            ("", "empty"),
        ] {
            let error = interval_literal(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
        }
    }

    #[test]
    fn a_column_named_twice_is_caught() {
        let columns = |sql: &str| tokenize(sql).unwrap();
        let list = columns("a VARCHAR, b NUMERIC(10, 2), WATERMARK FOR a AS a - INTERVAL '1 second'");
        check_unique_columns(&list, &["raw_payload".into()]).unwrap();
        assert!(check_unique_columns(&list, &["a".into()]).unwrap_err().contains("`a`"));
        let twice = columns("a VARCHAR, \"b\" INT, B DOUBLE");
        assert!(check_unique_columns(&twice, &[]).unwrap_err().contains("`b`"));
    }

    #[test]
    fn a_bytea_function_on_an_included_payload_is_caught() {
        let table = "CREATE TABLE IF NOT EXISTS s.t (a VARCHAR) APPEND ONLY INCLUDE payload AS raw_payload WITH (connector = 'nats') FORMAT PLAIN ENCODE JSON;";
        let bad =
            "CREATE MATERIALIZED VIEW IF NOT EXISTS s.v AS SELECT convert_from(raw_payload, 'utf8') AS p FROM s.t;";
        let good = "CREATE MATERIALIZED VIEW IF NOT EXISTS s.v AS SELECT CAST(raw_payload AS VARCHAR) AS p FROM s.t;";
        assert!(check_pipeline([table, bad]).unwrap_err().contains("jsonb"));
        check_pipeline([table, good]).unwrap();
    }
}
