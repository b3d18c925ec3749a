//! RisingWave's documented connector option keys (copied from `shared/reference/`; a test keeps
//! the copy in sync) and the ones iotctl owns or forbids.

pub const NATS_SOURCE_OPTIONS: &str = include_str!("../sql/reference/nats-source-options.txt");
pub const NATS_SINK_OPTIONS: &str = include_str!("../sql/reference/nats-sink-options.txt");

/// Keys of the documented list: one per line.
pub fn keys(list: &'static str) -> impl Iterator<Item = &'static str> {
    list.lines().map(str::trim).filter(|l| !l.is_empty())
}

pub fn is_nats_source_option(key: &str) -> bool {
    keys(NATS_SOURCE_OPTIONS).any(|k| k == key)
}

pub fn is_nats_sink_option(key: &str) -> bool {
    keys(NATS_SINK_OPTIONS).any(|k| k == key)
}

/// Source keys RisingWave accepts but that break ingestion (ignored, overwritten, or they empty
/// the payload / cap the stream), with the reason shown to the user.
pub const FORBIDDEN_SOURCE_OPTIONS: &[(&str, &str)] = &[
    (
        "consumer.deliver_policy",
        "RisingWave overwrites it; the start is `scan.startup.mode`",
    ),
    (
        "consumer.deliver_subject",
        "push delivery is not used by the NATS source",
    ),
    ("consumer.filter_subject", "overwritten by `subject`"),
    ("consumer.filter_subjects", "overwritten by `subject`"),
    ("consumer.headers_only", "it empties every payload"),
    (
        "scan.startup.mode",
        "a table created again must read all the stream retains (the default, earliest)",
    ),
    (
        "allow_create_stream",
        "a stream it creates is capped at 1 MB; iotctl provisions streams",
    ),
];

/// Keys iotctl renders itself from the spec; setting them as extra options would conflict.
/// Options of the table itself, not of its connector (src/frontend/src/utils/with_options.rs,
/// `RETENTION_SECONDS`): RisingWave takes them out before the connector sees its options.
pub const TABLE_OPTIONS: &[&str] = &["retention_seconds"];

pub const OWNED_SOURCE_OPTIONS: &[&str] = &[
    "retention_seconds",
    "connector",
    "server_url",
    "subject",
    "connect_mode",
    "username",
    "password",
    "jwt",
    "nkey",
    "stream",
    "consumer.durable_name",
];
pub const OWNED_SINK_OPTIONS: &[&str] = &[
    "connector",
    "server_url",
    "subject",
    "connect_mode",
    "username",
    "password",
    "jwt",
    "nkey",
    "type",
    "allow_create_stream",
    // Always 'false' on NATS sinks: a rebuilt sink must not publish its view's history again.
    "snapshot",
];
