//! `WITH (…)` options of RisingWave's connectors, each value rendered as SQL once.

use serde::Serialize;

use crate::quoting::sql::{ident, literal};
use crate::spec::model::{ConnectMode, Spec};

/// A `WITH (...)` option with its value already rendered as SQL (a literal or `SECRET name`).
#[derive(Debug, Clone, Serialize)]
pub(super) struct SqlOption {
    pub key: String,
    pub value: String,
}

pub(super) fn option(key: &str, value: &str) -> anyhow::Result<SqlOption> {
    Ok(SqlOption {
        key: key.to_string(),
        value: literal(value).map_err(anyhow::Error::msg)?,
    })
}

pub(super) fn secret_option(key: &str, secret: &str) -> anyhow::Result<SqlOption> {
    Ok(SqlOption {
        key: key.to_string(),
        value: format!("SECRET {}", ident(secret).map_err(anyhow::Error::msg)?),
    })
}

/// A NATS sink starts from the rows that arrive after it is created: with RisingWave's default
/// (`snapshot = true`) a sink rebuilt by apply would publish every alert and dead letter its
/// view already holds again (src/frontend/src/handler/create_sink.rs reads the generic
/// `snapshot` option before the connector sees its options).
pub(super) fn no_snapshot() -> anyhow::Result<SqlOption> {
    option("snapshot", "false")
}

/// The options every NATS table and sink of the pipeline connects with.
pub(super) fn nats_connection(spec: &Spec, subject: &str, nats_secret: &str) -> anyhow::Result<Vec<SqlOption>> {
    let mut options = vec![
        option("connector", "nats")?,
        option("server_url", &spec.nats.servers.join(","))?,
        option("subject", subject)?,
    ];
    match spec.nats.connect_mode {
        ConnectMode::Plain => options.push(option("connect_mode", "plain")?),
        ConnectMode::UserAndPassword => {
            options.push(option("connect_mode", "user_and_password")?);
            options.push(option("username", spec.nats.username.as_deref().unwrap_or_default())?);
            options.push(secret_option("password", nats_secret)?);
        }
    }
    Ok(options)
}

/// The options of a NATS sink publishing each new row of a view as one JSON message.
pub(super) fn nats_sink(
    spec: &Spec,
    subject: &str,
    nats_secret: &str,
    extra: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Vec<SqlOption>> {
    let mut options = nats_connection(spec, subject, nats_secret)?;
    options.push(option("type", "append-only")?);
    // Retractions (window functions, the replay anti-join) are not events: only inserts go on.
    options.push(option("force_append_only", "true")?);
    options.push(no_snapshot()?);
    for (key, value) in extra {
        options.push(option(key, value)?);
    }
    Ok(options)
}

/// Consumer settings every NATS table carries unless the spec's `ingestion.options` sets them:
/// - `consumer.ack_policy = 'explicit'`: RisingWave acks each message at checkpoint; releases
///   before #25705 treated an unset policy as `none` and sent no acks while the consumer
///   (async-nats' default, explicit) waited for them, so every message came again after
///   `ack_wait` (issue #25679). Set, it means the same on every release.
/// - `consumer.max_ack_pending`: acks arrive once per checkpoint, so JetStream's default of
///   1000 unacked messages would cap ingestion at 1000 messages per checkpoint interval.
pub(super) fn nats_table_consumer(user: &std::collections::BTreeMap<String, String>) -> anyhow::Result<Vec<SqlOption>> {
    const DEFAULTS: &[(&str, &str)] = &[
        ("consumer.ack_policy", "explicit"),
        ("consumer.max_ack_pending", "1000000"),
    ];
    DEFAULTS
        .iter()
        .filter(|(key, _)| !user.contains_key(*key))
        .map(|(key, value)| option(key, value))
        .collect()
}

/// A session setting the statement of one file runs under (set before, reset after).
#[derive(Debug, Clone, Serialize)]
pub(super) struct SessionSetting {
    pub name: &'static str,
    pub value: &'static str,
    pub why: &'static str,
}

/// A NATS table reads through one actor: RisingWave splits a NATS source into one split per
/// actor that all share the durable consumer, and at parallelism 2 or more with several views
/// downstream its ack floor stalls while messages are redelivered as duplicates (issue
/// #25681; `enable_adaptive_splits` in src/connector/src/source/base.rs). One actor reads a
/// JetStream consumer as fast as it delivers; the views after it keep their own parallelism.
pub(super) fn nats_table_session() -> Vec<SessionSetting> {
    vec![SessionSetting {
        name: "streaming_parallelism_for_table",
        value: "1",
        why: "one reader per durable consumer (RisingWave #25681)",
    }]
}

/// A NATS sink publishes as rows arrive instead of through a log store that releases them at
/// checkpoints (sink decoupling, on by default for NATS: `is_sink_decouple` in
/// src/connector/src/sink/mod.rs): alerts and dead letters are the latency-bound path.
pub(super) fn nats_sink_session() -> Vec<SessionSetting> {
    vec![SessionSetting {
        name: "sink_decouple",
        value: "false",
        why: "publish as rows arrive, not at checkpoints: alert latency",
    }]
}

/// Rows of an APPEND ONLY table leave its storage this long after they were written
/// (`retention_seconds`, src/frontend/src/handler/create_table.rs; e2e
/// e2e_test/source_inline/kafka/ttl_table_with_con.slt on a connector table). Views already
/// hold what they read; a view created later backfills only what is left.
pub(super) fn table_retention(horizon: crate::spec::duration::Duration) -> anyhow::Result<SqlOption> {
    option("retention_seconds", &(horizon.as_millis() / 1000).max(1).to_string())
}
