//! Static checks of rendered RisingWave DDL against the documented statement forms and
//! connector option lists (no RisingWave server can run here, so this is what we can prove).

use std::collections::BTreeMap;

use super::ddl_options::{check_nats_sink, check_nats_source, check_postgres_sink};
use super::ddl_rules::{
    check_intervals, check_select_list, check_table_shape, check_unique_columns, unwrap_session_settings,
};

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Token {
    Word(String),
    QuotedIdent(String),
    Str(String),
    /// psql variable `:'name'`
    Variable(String),
    Punct(char),
    Other(String),
}

pub(super) fn tokenize(sql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '\'' || c == '"' || (c == ':' && chars.get(i + 1) == Some(&'\'')) {
            let variable = c == ':';
            if variable {
                i += 1;
            }
            let quote = chars[i];
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => {
                        return Err(format!(
                            "unterminated {} literal",
                            if quote == '"' { "identifier" } else { "string" }
                        ));
                    }
                    Some(&q) if q == quote && chars.get(i + 1) == Some(&quote) => {
                        text.push(quote);
                        i += 2;
                    }
                    Some(&q) if q == quote => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(match (variable, quote) {
                (true, _) => Token::Variable(text),
                (false, '"') => Token::QuotedIdent(text),
                _ => Token::Str(text),
            });
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            // `a.b` stays one word; a dot before a quoted part (`a."b"`) is its own token.
            let word_char = |k: usize| {
                chars[k].is_alphanumeric()
                    || chars[k] == '_'
                    || (chars[k] == '.' && chars.get(k + 1).is_some_and(|c| c.is_alphanumeric() || *c == '_'))
            };
            while i < chars.len() && word_char(i) {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if "(),=;".contains(c) {
            tokens.push(Token::Punct(c));
            i += 1;
        } else {
            tokens.push(Token::Other(c.to_string()));
            i += 1;
        }
    }
    Ok(tokens)
}

pub(super) fn is_kw(token: Option<&Token>, keyword: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.eq_ignore_ascii_case(keyword))
}

struct Cursor<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn keywords(&mut self, words: &[&str]) -> Result<(), String> {
        for word in words {
            if !is_kw(self.peek(), word) {
                return Err(format!("expected `{}` at `{}`", words.join(" "), self.describe()));
            }
            self.at += 1;
        }
        Ok(())
    }

    fn try_keywords(&mut self, words: &[&str]) -> bool {
        let ok = words
            .iter()
            .enumerate()
            .all(|(k, w)| is_kw(self.tokens.get(self.at + k), w));
        if ok {
            self.at += words.len();
        }
        ok
    }

    /// A possibly schema-qualified name: `a`, `a.b`, `"a"."b"`.
    fn name(&mut self) -> Result<String, String> {
        let mut parts = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Word(w)) => parts.push(w.clone()),
                Some(Token::QuotedIdent(q)) => parts.push(q.clone()),
                _ => return Err(format!("expected a name at `{}`", self.describe())),
            }
            self.at += 1;
            if matches!(self.peek(), Some(Token::Other(dot)) if dot == ".") {
                self.at += 1;
            } else {
                break;
            }
        }
        Ok(parts.join("."))
    }

    fn punct(&mut self, c: char) -> Result<(), String> {
        if self.peek() == Some(&Token::Punct(c)) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected `{c}` at `{}`", self.describe()))
        }
    }

    /// Skips a balanced parenthesised group, returning its tokens.
    fn group(&mut self) -> Result<&[Token], String> {
        self.punct('(')?;
        let start = self.at;
        let mut depth = 1;
        while depth > 0 {
            match self.peek() {
                None => return Err("unbalanced parentheses".into()),
                Some(Token::Punct('(')) => depth += 1,
                Some(Token::Punct(')')) => depth -= 1,
                _ => {}
            }
            self.at += 1;
        }
        Ok(&self.tokens[start..self.at - 1])
    }

    /// `WITH (key = 'value' | key = SECRET name, …)`.
    fn with_options(&mut self) -> Result<BTreeMap<String, String>, String> {
        self.keywords(&["WITH"])?;
        let tokens = self.group()?.to_vec();
        let mut options = BTreeMap::new();
        for item in tokens.split(|t| *t == Token::Punct(',')) {
            let (key, value) = match item {
                [Token::Word(key), Token::Punct('='), Token::Str(value)] => (key.clone(), value.clone()),
                [Token::Word(key), Token::Punct('='), Token::Word(secret), name]
                    if secret.eq_ignore_ascii_case("SECRET") =>
                {
                    let name = match name {
                        Token::Word(n) | Token::QuotedIdent(n) => n.clone(),
                        _ => return Err(format!("option `{key}`: bad secret reference")),
                    };
                    (key.clone(), format!("SECRET {name}"))
                }
                _ => {
                    return Err(format!(
                        "malformed option `{}`",
                        item.iter().map(|t| format!("{t:?}")).collect::<Vec<_>>().join(" ")
                    ));
                }
            };
            if options.insert(key.clone(), value).is_some() {
                return Err(format!("option `{key}` is set twice"));
            }
        }
        Ok(options)
    }

    fn end(&mut self) -> Result<(), String> {
        self.punct(';')?;
        if self.at != self.tokens.len() {
            return Err(format!("text after the statement's `;`: `{}`", self.describe()));
        }
        Ok(())
    }

    fn describe(&self) -> String {
        match self.peek() {
            None => "end of input".into(),
            Some(t) => format!("{t:?}"),
        }
    }
}

/// What a checked statement creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedStatement {
    pub kind: &'static str,
    pub name: String,
    pub options: BTreeMap<String, String>,
}

/// Checks one statement (comments allowed) against the documented forms.
pub fn check_statement(sql: &str) -> Result<CheckedStatement, String> {
    let all = tokenize(sql)?;
    let tokens = unwrap_session_settings(&all)?;
    let semicolons = tokens.iter().filter(|t| **t == Token::Punct(';')).count();
    if semicolons != 1 {
        return Err(format!(
            "expected exactly one statement ending in `;`, found {semicolons} semicolons"
        ));
    }
    check_intervals(tokens)?;
    let mut c = Cursor { tokens, at: 0 };
    c.keywords(&["CREATE"])?;
    if is_kw(c.peek(), "OR") {
        return Err("CREATE OR REPLACE is not supported by RisingWave release servers".into());
    }
    if c.try_keywords(&["SCHEMA"]) {
        c.keywords(&["IF", "NOT", "EXISTS"])?;
        let name = c.name()?;
        c.end()?;
        return Ok(CheckedStatement {
            kind: "schema",
            name,
            options: BTreeMap::new(),
        });
    }
    if c.try_keywords(&["SECRET"]) {
        let name = c.name()?;
        let options = c.with_options()?;
        if options.get("backend").map(String::as_str) != Some("meta") || options.len() != 1 {
            return Err("secrets must use WITH (backend = 'meta')".into());
        }
        c.keywords(&["AS"])?;
        match c.peek() {
            Some(Token::Variable(_)) => c.at += 1,
            Some(Token::Str(_)) => return Err("a secret's value is written in plain text".into()),
            _ => return Err("expected the secret's value placeholder".into()),
        }
        c.end()?;
        return Ok(CheckedStatement {
            kind: "secret",
            name,
            options,
        });
    }
    if c.try_keywords(&["TABLE"]) {
        return check_table(&mut c);
    }
    if c.try_keywords(&["MATERIALIZED", "VIEW"]) {
        c.keywords(&["IF", "NOT", "EXISTS"])?;
        let name = c.name()?;
        c.keywords(&["AS"])?;
        if !(is_kw(c.peek(), "SELECT") || is_kw(c.peek(), "WITH")) {
            return Err(format!("expected a query after AS, found `{}`", c.describe()));
        }
        // The query itself is checked by RisingWave; here its parentheses balance and its
        // output columns are named once.
        check_select_list(&tokens[c.at..])?;
        let mut depth: i64 = 0;
        for token in &tokens[c.at..] {
            match token {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err("unbalanced parentheses in the query".into());
            }
        }
        if depth != 0 {
            return Err("unbalanced parentheses in the query".into());
        }
        return Ok(CheckedStatement {
            kind: "materialized_view",
            name,
            options: BTreeMap::new(),
        });
    }
    if c.try_keywords(&["SINK"]) {
        return check_sink(&mut c);
    }
    Err(format!("not a statement form iotctl renders: `{}`", c.describe()))
}

/// `CREATE TABLE IF NOT EXISTS name (columns) [APPEND ONLY] [INCLUDE …] WITH (…) FORMAT PLAIN
/// ENCODE JSON|BYTES;`, a NATS table.
fn check_table(c: &mut Cursor) -> Result<CheckedStatement, String> {
    c.keywords(&["IF", "NOT", "EXISTS"])?;
    let name = c.name()?;
    let columns = c.group()?.to_vec();
    let watermark = columns.iter().any(|t| is_kw(Some(t), "WATERMARK"));
    let append_only = c.try_keywords(&["APPEND", "ONLY"]);
    if watermark && !append_only {
        return Err("a table with a WATERMARK must be APPEND ONLY".into());
    }
    let (mut included, mut includes) = (Vec::new(), Vec::new());
    while c.try_keywords(&["INCLUDE"]) {
        let Some(Token::Word(what)) = c.peek().cloned() else {
            return Err("expected what to INCLUDE".into());
        };
        if !["subject", "payload", "offset", "partition"].contains(&what.to_ascii_lowercase().as_str()) {
            return Err(format!("the nats connector cannot INCLUDE `{what}`"));
        }
        c.at += 1;
        if c.try_keywords(&["AS"]) {
            match c.peek().cloned() {
                Some(Token::Word(alias)) => included.push(alias.to_ascii_lowercase()),
                Some(Token::QuotedIdent(alias)) => included.push(alias),
                _ => {}
            }
            c.name()?;
        }
        includes.push(what);
    }
    check_unique_columns(&columns, &included)?;
    let options = c.with_options()?;
    c.keywords(&["FORMAT", "PLAIN", "ENCODE"])?;
    let encode = match c.peek() {
        Some(Token::Word(w)) if ["JSON", "BYTES"].contains(&w.to_ascii_uppercase().as_str()) => w.clone(),
        _ => return Err(format!("expected ENCODE JSON or BYTES at `{}`", c.describe())),
    };
    c.at += 1;
    c.end()?;
    let includes: Vec<&str> = includes.iter().map(String::as_str).collect();
    check_table_shape(&columns, &includes, &encode)?;
    check_nats_source(&options)?;
    Ok(CheckedStatement {
        kind: "table",
        name,
        options,
    })
}

/// `CREATE SINK IF NOT EXISTS name FROM relation WITH (…);` or `… AS SELECT … WITH (…);`.
fn check_sink(c: &mut Cursor) -> Result<CheckedStatement, String> {
    c.keywords(&["IF", "NOT", "EXISTS"])?;
    let name = c.name()?;
    if c.try_keywords(&["AS"]) {
        if !is_kw(c.peek(), "SELECT") {
            return Err(format!("expected a SELECT after AS, found `{}`", c.describe()));
        }
        // The query runs to the last top-level WITH, which opens the options.
        let mut depth: i64 = 0;
        let mut options_at = None;
        for (at, token) in c.tokens.iter().enumerate().skip(c.at) {
            match token {
                Token::Punct('(') => depth += 1,
                Token::Punct(')') => depth -= 1,
                _ if depth == 0 && is_kw(Some(token), "WITH") => options_at = Some(at),
                _ => {}
            }
        }
        c.at = options_at.ok_or("a sink's query must be followed by WITH (…)")?;
    } else {
        c.keywords(&["FROM"])?;
        c.name()?;
    }
    let options = c.with_options()?;
    if is_kw(c.peek(), "FORMAT") {
        return Err("RisingWave's nats and postgres sinks reject a FORMAT clause".into());
    }
    c.end()?;
    match options.get("connector").map(String::as_str) {
        Some("nats") => check_nats_sink(&options)?,
        Some("postgres") => check_postgres_sink(&options)?,
        other => return Err(format!("unexpected sink connector {other:?}")),
    }
    Ok(CheckedStatement {
        kind: "sink",
        name,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_documented_forms() {
        let nats = "WITH (connector = 'nats', server_url = 'nats://a:4222', subject = 'iot.>', connect_mode = 'plain', stream = 'S', consumer.durable_name = 'd')";
        for table in [
            format!(
                "CREATE TABLE IF NOT EXISTS iot.t (payload BYTEA, received_at TIMESTAMPTZ AS proctime()) APPEND ONLY INCLUDE subject AS s {nats} FORMAT PLAIN ENCODE BYTES;"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS iot.t (p BYTEA, at TIMESTAMPTZ AS proctime(), WATERMARK FOR at AS at - INTERVAL '1 second') APPEND ONLY {nats} FORMAT PLAIN ENCODE BYTES;"
            ),
            format!(
                "CREATE TABLE IF NOT EXISTS iot.t (ts TIMESTAMPTZ, v VARCHAR) APPEND ONLY INCLUDE payload AS raw {nats} FORMAT PLAIN ENCODE JSON;"
            ),
        ] {
            assert_eq!(check_statement(&table).unwrap().kind, "table", "{table}");
        }
        let sink = "SET sink_decouple = false; CREATE SINK IF NOT EXISTS iot.s FROM iot.a WITH (connector = 'nats', server_url = 'x', subject = 'alerts.iot.all', connect_mode = 'plain', type = 'append-only', snapshot = 'false'); SET sink_decouple TO DEFAULT;";
        assert_eq!(check_statement(sink).unwrap().kind, "sink");
        let quoted = "CREATE SCHEMA IF NOT EXISTS s_1.\"end\";";
        assert_eq!(check_statement(quoted).unwrap().name, "s_1.end");
        let query_sink = "CREATE SINK IF NOT EXISTS iot.s AS SELECT a, (b) FROM iot.v WITH (connector = 'postgres', host = 'h', port = '1', user = 'u', password = SECRET p, database = 'd', table = 't', type = 'upsert', primary_key = 'a', ignore_delete = 'true');";
        assert_eq!(check_statement(query_sink).unwrap().kind, "sink");
    }

    /// Statements RisingWave refuses (or that would lose rows), and a word of the reason given.
    const REJECTED: &[(&str, &str)] = &[
        (
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'nats', server_url = 'x', subject = 'a', connect_mode = 'plain', type = 'append-only') FORMAT PLAIN ENCODE JSON;",
            "FORMAT",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (ts TIMESTAMPTZ, WATERMARK FOR ts AS ts) WITH (connector = 'nats') FORMAT PLAIN ENCODE JSON;",
            "APPEND ONLY",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a INT) APPEND ONLY WITH (connector = 'nats', server_url = 'x', subject = 'a', connect_mode = 'plain', stream = 's', consumer.durable_name = 'd', consumer.deliver_policy = 'all') FORMAT PLAIN ENCODE JSON;",
            "deliver_policy",
        ),
        (
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'postgres', host = 'h', port = '1', user = 'u', password = 'plain', database = 'd', table = 't', type = 'upsert', primary_key = 'id');",
            "SECRET",
        ),
        ("CREATE OR REPLACE MATERIALIZED VIEW m AS SELECT 1;", "OR REPLACE"),
        (
            "CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT 1; DROP TABLE x;",
            "one statement",
        ),
        ("CREATE SECRET s WITH (backend = 'meta') AS 'hunter2';", "plain text"),
        (
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'nats', server_url = 'x', subject = 'a', connect_mode = 'plain', type = 'append-only');",
            "snapshot = 'false'",
        ),
        (
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'nats', server_url = 'x', subject = 'a', connect_mode = 'plain', type = 'upsert', snapshot = 'false');",
            "append-only only",
        ),
        (
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'postgres', host = 'h', port = '1', user = 'u', password = SECRET p, database = 'd', table = 't', type = 'upsert', primary_key = 'id', snapshot = 'false');",
            "must not set `snapshot`",
        ),
        (
            // Its view expires old rows: without ignore_delete the warehouse loses them.
            "CREATE SINK IF NOT EXISTS s FROM a WITH (connector = 'postgres', host = 'h', port = '1', user = 'u', password = SECRET p, database = 'd', table = 't', type = 'upsert', primary_key = 'id');",
            "ignore_delete",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '500 milliseconds') APPEND ONLY WITH (connector = 'nats') FORMAT PLAIN ENCODE JSON;",
            "interval unit",
        ),
        (
            "CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT * FROM TUMBLE(t, ts, INTERVAL '1.5 seconds');",
            "not an integer",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a VARCHAR, raw_payload VARCHAR) APPEND ONLY INCLUDE payload AS raw_payload WITH (connector = 'nats') FORMAT PLAIN ENCODE JSON;",
            "defined twice",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a VARCHAR) APPEND ONLY WITH (connector = 'nats') FORMAT PLAIN ENCODE BYTES;",
            "one BYTEA",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a BYTEA, b BYTEA) APPEND ONLY WITH (connector = 'nats') FORMAT PLAIN ENCODE BYTES;",
            "one BYTEA",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a BYTEA) APPEND ONLY INCLUDE payload AS p WITH (connector = 'nats') FORMAT PLAIN ENCODE BYTES;",
            "INCLUDE payload",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (ts TIMESTAMPTZ, WATERMARK FOR ts AS ts - INTERVAL '5 seconds') APPEND ONLY WITH (connector = 'nats') FORMAT PLAIN ENCODE JSON;",
            "drops rows",
        ),
        (
            "CREATE TABLE IF NOT EXISTS t (a BYTEA) APPEND ONLY WITH (connector = 'nats') FORMAT PLAIN ENCODE AVRO;",
            "ENCODE JSON or BYTES",
        ),
        ("CREATE SINK IF NOT EXISTS s AS SELECT a FROM v;", "WITH"),
        (
            "SET sink_decouple = false; CREATE SCHEMA IF NOT EXISTS s;",
            "not all reset",
        ),
        (
            "SET search_path = x; CREATE SCHEMA IF NOT EXISTS s; SET search_path TO DEFAULT;",
            "not a session setting",
        ),
        (
            "CREATE MATERIALIZED VIEW IF NOT EXISTS m AS SELECT a, t.b, f(x) AS B FROM (SELECT a, b, b FROM t) AS t;",
            "`b` specified more than once",
        ),
    ];

    #[test]
    fn rejects_what_risingwave_rejects() {
        for (sql, expected) in REJECTED {
            let error = check_statement(sql).unwrap_err();
            assert!(error.contains(expected), "{sql}\n→ {error}");
        }
    }
}
