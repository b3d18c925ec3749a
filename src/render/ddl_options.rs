//! The `WITH (…)` options of the connector statements iotctl renders, against RisingWave's
//! documented option lists and the rules a pipeline needs (`ddl_check` calls these).

use std::collections::BTreeMap;

use crate::reference;

/// The options RisingWave's postgres sink takes (`src/connector/src/sink/postgres.rs`).
pub const POSTGRES_SINK_OPTIONS: &[&str] = &[
    "connector",
    "host",
    "port",
    "user",
    "password",
    "database",
    "table",
    "schema",
    "type",
    "primary_key",
    "ssl_mode",
    "max_batch_rows",
    // Taken by the planner, valid for every sink (src/connector/src/sink/mod.rs,
    // validate_sink_unknown_fields).
    "ignore_delete",
];

fn require(options: &BTreeMap<String, String>, keys: &[&str]) -> Result<(), String> {
    for key in keys {
        if !options.contains_key(*key) {
            return Err(format!("required option `{key}` is missing"));
        }
    }
    Ok(())
}

fn check_connect_mode(options: &BTreeMap<String, String>) -> Result<(), String> {
    match options.get("connect_mode").map(String::as_str) {
        Some("plain") => Ok(()),
        Some("user_and_password") => {
            require(options, &["username", "password"])?;
            if !options["password"].starts_with("SECRET ") {
                return Err("the NATS password must be a SECRET".into());
            }
            Ok(())
        }
        Some("credential") => require(options, &["jwt", "nkey"]),
        other => Err(format!("invalid connect_mode {other:?}")),
    }
}

pub(super) fn check_nats_source(options: &BTreeMap<String, String>) -> Result<(), String> {
    require(
        options,
        &[
            "connector",
            "server_url",
            "subject",
            "connect_mode",
            "stream",
            "consumer.durable_name",
        ],
    )?;
    for key in options.keys() {
        if !reference::is_nats_source_option(key) && !reference::TABLE_OPTIONS.contains(&key.as_str()) {
            return Err(format!("`{key}` is not a documented NATS source option"));
        }
        if let Some((_, why)) = reference::FORBIDDEN_SOURCE_OPTIONS.iter().find(|(k, _)| k == key) {
            return Err(format!("`{key}` must not be set: {why}"));
        }
    }
    check_connect_mode(options)
}

pub(super) fn check_nats_sink(options: &BTreeMap<String, String>) -> Result<(), String> {
    require(options, &["connector", "server_url", "subject", "connect_mode", "type"])?;
    for key in options.keys() {
        if !reference::is_nats_sink_option(key) {
            return Err(format!("`{key}` is not a documented NATS sink option"));
        }
    }
    if options["subject"].contains(['*', '>', ',']) {
        return Err("a NATS sink publishes to one fixed subject".into());
    }
    if options["type"] != "append-only" {
        // src/connector/src/sink/nats.rs: NatsConfig::from_btreemap refuses any other type.
        return Err(format!(
            "RisingWave's NATS sink is append-only only, not `{}`",
            options["type"]
        ));
    }
    if options.get("snapshot").map(String::as_str) != Some("false") {
        return Err("a NATS sink must set snapshot = 'false': rebuilt with the default, it would publish every alert or dead letter its view holds again".into());
    }
    check_connect_mode(options)
}

pub(super) fn check_postgres_sink(options: &BTreeMap<String, String>) -> Result<(), String> {
    if options.contains_key("snapshot") {
        return Err(
            "a warehouse sink must not set `snapshot`: recreated, it has to upsert every row its view holds".into(),
        );
    }
    require(
        options,
        &["host", "port", "user", "password", "database", "table", "type"],
    )?;
    for key in options.keys() {
        if !POSTGRES_SINK_OPTIONS.contains(&key.as_str()) {
            return Err(format!("`{key}` is not a documented postgres sink option"));
        }
    }
    if !options["password"].starts_with("SECRET ") {
        return Err("the warehouse password must be a SECRET, never plain text".into());
    }
    match options["type"].as_str() {
        "upsert" if options.get("ignore_delete").map(String::as_str) != Some("true") => Err(
            "a warehouse upsert sink must set ignore_delete = 'true': its view expires old rows, and the sink would delete them from the warehouse".into(),
        ),
        "upsert" => require(options, &["primary_key"]),
        "append-only" => Ok(()),
        other => Err(format!("invalid sink type `{other}`")),
    }
}
