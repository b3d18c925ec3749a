//! The pipeline spec as written in YAML (`apiVersion: iotctl/v1`).
//!
//! Every type denies unknown keys so a typo is an error, not a silently ignored setting.
//! Names are [`Ident`]s: they accept any string here and are checked by `spec::validate`, so
//! one run reports every bad name instead of stopping at the first.

use serde::{Deserialize, Serialize};

use super::duration::Duration;
use super::names::{Ident, StreamName};

pub const API_VERSION: &str = "iotctl/v1";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub pipeline: PipelineMeta,
    pub sites: Vec<Site>,
    pub device_types: Vec<DeviceType>,
    #[serde(default)]
    pub contract: Contract,
    #[serde(default)]
    pub nats: Nats,
    #[serde(default)]
    pub risingwave: RisingWave,
    #[serde(default)]
    pub warehouse: Warehouse,
    #[serde(default)]
    pub sqlmesh: Sqlmesh,
    #[serde(default)]
    pub slo: Slo,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineMeta {
    pub name: Ident,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: Ident,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceType {
    pub name: Ident,
    #[serde(default)]
    pub description: Option<String>,
    pub metrics: Vec<Metric>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Metric {
    pub name: Ident,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(rename = "type", default)]
    pub value_type: ValueType,
    pub unit: String,
    pub range: Range,
    #[serde(default)]
    pub thresholds: Thresholds,
    #[serde(default)]
    pub windows: Vec<Window>,
    #[serde(default)]
    pub anomaly: Option<Anomaly>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    #[default]
    Float,
    Integer,
}

/// The physically possible values of a metric; readings outside are contract violations.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default)]
    pub warning: Option<Bounds>,
    #[serde(default)]
    pub critical: Option<Bounds>,
}

/// A reading breaches when it is strictly above `above` or strictly below `below`.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Bounds {
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
}

/// A rolling aggregate window: tumbling when `hop` is absent, hopping (sliding) otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub size: Duration,
    #[serde(default)]
    pub hop: Option<Duration>,
}

/// Z-score anomaly detection over a per-device baseline of the previous readings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Anomaly {
    #[serde(default)]
    pub method: AnomalyMethod,
    /// Baseline of the previous N readings of the same device (ROWS frame).
    #[serde(default)]
    pub previous: Option<u32>,
    /// Baseline of the readings of the same device in this time window (RANGE frame).
    #[serde(default)]
    pub window: Option<Duration>,
    pub k: f64,
    pub min_samples: u32,
    /// Severity of the alerts this detector raises.
    #[serde(default = "warning")]
    pub severity: Severity,
}

fn warning() -> Severity {
    Severity::Warning
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyMethod {
    #[default]
    Zscore,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    #[serde(default = "one")]
    pub version: u32,
    /// What makes two deliveries the same event (the warehouse upsert key, the dedupe key).
    #[serde(default)]
    pub identity: Identity,
    #[serde(default)]
    pub extra_fields: Vec<ExtraField>,
    /// How far an event's `ts` may lie ahead of the time the telemetry stream received it
    /// before the event is dead-lettered as coming from a device with a wrong clock.
    #[serde(default = "default_clock_skew")]
    pub max_clock_skew: Duration,
}

impl Default for Contract {
    fn default() -> Self {
        Contract {
            version: 1,
            identity: Identity::default(),
            extra_fields: Vec::new(),
            max_clock_skew: default_clock_skew(),
        }
    }
}

fn default_clock_skew() -> Duration {
    Duration::from_secs(300)
}

fn one() -> u32 {
    1
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Identity {
    /// A producer-assigned unique `event_id`.
    #[default]
    EventId,
    /// `(device_id, metric, seq)`: a per-device, per-metric monotonically increasing sequence.
    DeviceSequence,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraField {
    pub name: Ident,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// Allowed values (strings only).
    #[serde(default, rename = "enum")]
    pub allowed: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Float,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Nats {
    #[serde(default = "default_servers")]
    pub servers: Vec<String>,
    /// First token(s) of every telemetry subject: `{prefix}.{site}.{device_type}.{metric}`.
    #[serde(default = "default_prefix")]
    pub subject_prefix: String,
    #[serde(default)]
    pub connect_mode: ConnectMode,
    /// NATS user for `connect_mode: user_and_password`; the password comes from `password_env`.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default = "default_nats_password_env")]
    pub password_env: String,
    #[serde(default)]
    pub streams: Streams,
}

impl Default for Nats {
    fn default() -> Self {
        Nats {
            servers: default_servers(),
            subject_prefix: default_prefix(),
            connect_mode: ConnectMode::default(),
            username: None,
            password_env: default_nats_password_env(),
            streams: Streams::default(),
        }
    }
}

fn default_servers() -> Vec<String> {
    vec!["nats://127.0.0.1:4222".to_string()]
}

fn default_nats_password_env() -> String {
    "IOTCTL_NATS_PASSWORD".to_string()
}

fn default_prefix() -> String {
    "iot".to_string()
}

/// How RisingWave authenticates to NATS; credentials come from env at apply time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectMode {
    #[default]
    Plain,
    UserAndPassword,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Streams {
    #[serde(default)]
    pub telemetry: StreamSpec,
    #[serde(default)]
    pub replay: StreamSpec,
    #[serde(default)]
    pub dead_letter: StreamSpec,
    #[serde(default)]
    pub alerts: StreamSpec,
}

/// A JetStream stream; absent fields take the defaults of its role (see `spec::streams`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    #[serde(default)]
    pub name: Option<StreamName>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub subjects: Option<Vec<String>>,
    #[serde(default)]
    pub max_age: Option<Duration>,
    #[serde(default)]
    pub max_bytes: Option<i64>,
    #[serde(default)]
    pub max_msgs: Option<i64>,
    #[serde(default)]
    pub discard: Option<Discard>,
    #[serde(default)]
    pub storage: Option<Storage>,
    #[serde(default)]
    pub replicas: Option<u8>,
    #[serde(default)]
    pub duplicate_window: Option<Duration>,
    #[serde(default)]
    pub compression: Option<Compression>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Discard {
    Old,
    New,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    File,
    Memory,
}

impl Storage {
    pub fn as_str(self) -> &'static str {
        match self {
            Storage::File => "file",
            Storage::Memory => "memory",
        }
    }
}

impl Discard {
    pub fn as_str(self) -> &'static str {
        match self {
            Discard::Old => "old",
            Discard::New => "new",
        }
    }
}

impl Compression {
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::S2 => "s2",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    S2,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RisingWave {
    #[serde(default = "default_rw_schema")]
    pub schema: Ident,
    /// Env var holding the RisingWave connection URL (never the URL itself: it may hold a password).
    #[serde(default = "default_rw_url_env")]
    pub url_env: String,
    #[serde(default)]
    pub ingestion: Ingestion,
    #[serde(default = "default_alert_sinks")]
    pub alert_sinks: Vec<AlertSink>,
    #[serde(default)]
    pub warehouse_sink: WarehouseSink,
}

impl Default for RisingWave {
    fn default() -> Self {
        RisingWave {
            schema: default_rw_schema(),
            url_env: default_rw_url_env(),
            ingestion: Ingestion::default(),
            alert_sinks: default_alert_sinks(),
            warehouse_sink: WarehouseSink::default(),
        }
    }
}

fn default_rw_schema() -> Ident {
    Ident::new("iot")
}

fn default_rw_url_env() -> String {
    "IOTCTL_RISINGWAVE_URL".to_string()
}

fn default_alert_sinks() -> Vec<AlertSink> {
    vec![AlertSink {
        name: Ident::new("all_alerts"),
        subject: None,
        severities: Vec::new(),
        kinds: Vec::new(),
        options: Default::default(),
    }]
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Ingestion {
    #[serde(default = "default_ingest_table")]
    pub table: Ident,
    /// How long after its `ts` an event may arrive and still count as live. A later event
    /// is valid data (counted, loaded into the warehouse) but marked late: it never pages.
    /// `watermark_delay` is its former name: no watermark drops events any more.
    #[serde(default = "default_lateness", alias = "watermark_delay")]
    pub allowed_lateness: Duration,
    #[serde(default = "default_durable")]
    pub durable_consumer: StreamName,
    /// Extra connector options, checked against RisingWave's documented NATS source keys.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

impl Default for Ingestion {
    fn default() -> Self {
        Ingestion {
            table: default_ingest_table(),
            allowed_lateness: default_lateness(),
            durable_consumer: default_durable(),
            options: Default::default(),
        }
    }
}

fn default_ingest_table() -> Ident {
    Ident::new("telemetry")
}

fn default_lateness() -> Duration {
    Duration::from_secs(5)
}

fn default_durable() -> StreamName {
    StreamName::new("iotctl_risingwave_telemetry")
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSink {
    pub name: Ident,
    /// Fixed NATS subject; defaults to `alerts.{prefix}.{name}`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Only alerts of these severities (all when empty).
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// Only alerts of these kinds (all when empty).
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Extra connector options, checked against RisingWave's documented NATS sink keys.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, String>,
}

impl AlertSink {
    /// Whether this sink forwards alerts of this severity and kind (an empty list: all).
    pub fn forwards(&self, severity: Severity, kind: AlertKind) -> bool {
        (self.severities.is_empty() || self.severities.contains(&severity))
            && (self.kinds.is_empty() || self.kinds.contains(&kind))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Threshold,
    Anomaly,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseSink {
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub max_batch_rows: Option<u32>,
}

impl Default for WarehouseSink {
    fn default() -> Self {
        WarehouseSink {
            enabled: true,
            max_batch_rows: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// The PostgreSQL warehouse: the raw-telemetry table and SQLMesh's `warehouse` gateway.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Warehouse {
    #[serde(default = "default_host")]
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    #[serde(default = "default_database")]
    pub database: String,
    #[serde(default = "default_user")]
    pub user: String,
    /// Env var holding the password; the password itself never appears in a spec or artifact.
    #[serde(default = "default_password_env")]
    pub password_env: String,
    #[serde(default = "default_raw_schema")]
    pub schema: Ident,
    #[serde(default = "default_raw_table")]
    pub raw_table: Ident,
    #[serde(default)]
    pub ssl_mode: Option<SslMode>,
}

impl Default for Warehouse {
    fn default() -> Self {
        Warehouse {
            host: default_host(),
            port: default_pg_port(),
            database: default_database(),
            user: default_user(),
            password_env: default_password_env(),
            schema: default_raw_schema(),
            raw_table: default_raw_table(),
            ssl_mode: None,
        }
    }
}

fn default_host() -> String {
    "127.0.0.1".to_string()
}
fn default_pg_port() -> u16 {
    5432
}
fn default_database() -> String {
    "iot".to_string()
}
fn default_user() -> String {
    "iotctl".to_string()
}
fn default_password_env() -> String {
    "IOTCTL_WAREHOUSE_PASSWORD".to_string()
}
fn default_raw_schema() -> Ident {
    Ident::new("iot_raw")
}
fn default_raw_table() -> Ident {
    Ident::new("telemetry")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Sqlmesh {
    /// First day the daily models cover (YYYY-MM-DD).
    #[serde(default = "default_start")]
    pub start: String,
    #[serde(default = "default_health_schema")]
    pub schema: Ident,
    #[serde(default)]
    pub default_gateway: Gateway,
    /// DuckDB file of the embedded default gateway, relative to the SQLMesh project.
    #[serde(default = "default_duckdb_path")]
    pub duckdb_path: String,
    /// Days re-processed on every run so late events land in the right day.
    #[serde(default = "default_lookback")]
    pub lookback_days: u32,
    #[serde(default = "default_batch")]
    pub batch_size_days: u32,
}

impl Default for Sqlmesh {
    fn default() -> Self {
        Sqlmesh {
            start: default_start(),
            schema: default_health_schema(),
            default_gateway: Gateway::default(),
            duckdb_path: default_duckdb_path(),
            lookback_days: default_lookback(),
            batch_size_days: default_batch(),
        }
    }
}

fn default_start() -> String {
    "2026-01-01".to_string()
}
fn default_health_schema() -> Ident {
    Ident::new("device_health")
}
fn default_duckdb_path() -> String {
    "iotctl.duckdb".to_string()
}
fn default_lookback() -> u32 {
    2
}
fn default_batch() -> u32 {
    7
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gateway {
    #[default]
    Duckdb,
    Postgres,
    Risingwave,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default = "default_p99")]
    pub alert_latency_p99: Duration,
    #[serde(default = "default_retention")]
    pub replay_retention: Duration,
    /// Largest acceptable fraction of events lost between NATS and the warehouse.
    #[serde(default = "default_drop_rate")]
    pub max_drop_rate: f64,
    /// Where the rendered runbooks (`observability/runbooks/`) can be read, e.g. a link into
    /// the repository that holds them; each alert's `runbook_url` points below it.
    #[serde(default)]
    pub runbook_base_url: Option<String>,
}

impl Default for Slo {
    fn default() -> Self {
        Slo {
            alert_latency_p99: default_p99(),
            replay_retention: default_retention(),
            max_drop_rate: default_drop_rate(),
            runbook_base_url: None,
        }
    }
}

fn default_p99() -> Duration {
    Duration::from_secs(1)
}
fn default_retention() -> Duration {
    Duration::from_days(7)
}
fn default_drop_rate() -> f64 {
    0.0
}
