//! Quoting, one module per dialect. Every user-written name or text that reaches an artifact
//! or a statement passes through here (the templates use these as minijinja filters), so
//! quotes, semicolons, newlines or unicode in a name or description cannot break or inject
//! anything. (`src/backend/duckdb_helper.py` quotes its column names itself: it runs in
//! Python.)

pub mod csv;
pub mod sql;
pub mod yaml;
