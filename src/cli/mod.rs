//! Command-line types. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;
use crate::spec::duration::Duration;

mod dlq;
pub use dlq::*;

/// SQL-first control plane for IoT streaming analytics: one YAML spec renders RisingWave DDL,
/// a SQLMesh project and event contracts, and keeps them valid.
#[derive(Debug, Parser)]
#[command(name = "iotctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Output format: human text, JSON for CI, or GitHub annotations (validate)
    #[arg(long, global = true, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Print only data and errors
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// Never colour output (also honoured: NO_COLOR)
    #[arg(long, global = true, env = "NO_COLOR", hide_env_values = true, value_parser = clap::builder::FalseyValueParser::new())]
    pub no_color: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec and everything it renders; report every problem with its line
    Validate(ValidateArgs),
    /// Render RisingWave DDL, warehouse DDL, the SQLMesh project and contracts
    Render(RenderArgs),
    /// Check contract changes and device payloads against the telemetry contract
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Write deterministic sample telemetry for the spec (CSV or NDJSON) to stdout
    Sample(SampleArgs),
    /// Show the changes that would make NATS, the warehouse, RisingWave and SQLMesh match the spec
    Plan(PlanArgs),
    /// Make NATS, the warehouse, RisingWave and SQLMesh match the spec
    Apply(ApplyArgs),
    /// Show streams, retention coverage, consumers and object drift
    Status(StatusArgs),
    /// Replay a time range of telemetry into the replay stream (resumable, deduplicated)
    Replay(ReplayArgs),
    /// Publish realistic telemetry for the spec's fleet into NATS (load generator, demos)
    Simulate(SimulateArgs),
    /// Check that raw events, the batch models and the stream aggregates agree, per device,
    /// metric and day
    Reconcile(ReconcileArgs),
    /// Dead letters: count them by reason, show them, redrive them after a fix
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Send canary readings that must page and measure publish-to-alert latency and loss
    /// against the spec's SLOs
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Devices, spread over the spec's sites and device types
    #[arg(long, default_value_t = 200)]
    pub devices: u32,

    /// Readings per device (each of one metric, in turn): 1/min, 10/s, 60/h
    #[arg(long, default_value = "1/min")]
    pub rate: String,

    /// Simulated span (published as fast as NATS acks, not in real time)
    #[arg(long, default_value = "1d")]
    pub duration: String,

    /// First reading: RFC 3339, a UTC day (2026-11-21) or a duration ago; default: the
    /// duration before now, from UTC midnight for whole days (so `1d` is yesterday)
    #[arg(long)]
    pub start: Option<String>,

    /// Share of readings published 10 s to 10 min late (out of order)
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub late_fraction: f64,

    /// Share of readings replaced by payloads that break the contract
    #[arg(long, default_value_t = 0.0, value_name = "F")]
    pub malformed_fraction: f64,

    /// Inject rare spikes far outside each device's normal band
    #[arg(long)]
    pub anomalies: bool,

    /// Seed of the generator: the same seed and options publish the same events
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Send each event id as Nats-Msg-Id, so re-running a range within the stream's duplicate
    /// window stores nothing twice (roughly halves throughput)
    #[arg(long)]
    pub dedupe_ids: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub command: Option<ReplayCommand>,

    #[command(flatten)]
    pub run: ReplayRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReplayCommand {
    /// List replays in the ledger
    List(ReplayLedgerArgs),
    /// Show one replay: range, filters, counts, checkpoint, status
    Show(ReplayShowArgs),
}

#[derive(Debug, Args)]
pub struct ReplayLedgerArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct ReplayShowArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Replay id (from `replay list`)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct ReplayRunArgs {
    /// Pipeline spec file
    #[arg(long = "file", short = 'f', value_name = "SPEC")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Start: an RFC 3339 time or a duration ago (6h, 2d); by NATS receive time
    #[arg(long)]
    pub since: Option<String>,

    /// End (exclusive of later messages): an RFC 3339 time or a duration ago
    #[arg(long)]
    pub until: Option<String>,

    #[command(flatten)]
    pub place: PlaceArgs,

    /// Only this device id (matched in the payload)
    #[arg(long)]
    pub device: Option<String>,

    /// At most this many messages per second
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,

    /// Print counts, bytes and an estimated duration; write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Continue an interrupted replay from its checkpoint
    #[arg(long, value_name = "ID", conflicts_with_all = ["since", "until", "site", "device_type", "metric", "device"])]
    pub resume: Option<String>,

    /// Replay what remains even when --since is older than the oldest retained message
    #[arg(long)]
    pub allow_partial: bool,

    /// Where valid events go: the replay stream, or the warehouse's raw table (upsert)
    #[arg(long, value_enum, default_value_t = ReplayTarget::Replay)]
    pub to: ReplayTarget,

    /// After a warehouse load, re-run the SQLMesh daily models for the days covered
    #[arg(long, requires = "sqlmesh_dir")]
    pub restate: bool,
}

pub use crate::jobs::replay::ReplayTarget;

/// Which events, by their place in the subject layout; each must name the spec's.
#[derive(Debug, Clone, Args)]
pub struct PlaceArgs {
    /// Only this site
    #[arg(long)]
    pub site: Option<String>,

    /// Only this device type
    #[arg(long)]
    pub device_type: Option<String>,

    /// Only this metric
    #[arg(long)]
    pub metric: Option<String>,
}

impl PlaceArgs {
    /// An error naming the flag and the spec's names when one is not in the spec.
    pub fn check(&self, spec: &crate::spec::Spec) -> Result<(), String> {
        let check = |what: &str, value: &Option<String>, known: Vec<&str>| match value {
            Some(v) if !known.contains(&v.as_str()) => Err(format!(
                "--{what} `{v}` is not in the spec (known: {})",
                known.join(", ")
            )),
            _ => Ok(()),
        };
        check("site", &self.site, spec.sites.iter().map(|s| s.name.as_str()).collect())?;
        let device_types = spec.device_types.iter().map(|d| d.name.as_str()).collect();
        check("device-type", &self.device_type, device_types)?;
        let metrics = spec
            .device_types
            .iter()
            .flat_map(|d| d.metrics.iter().map(|m| m.name.as_str()));
        check("metric", &self.metric, metrics.collect())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnlySystem {
    Nats,
    Warehouse,
    Risingwave,
    Sqlmesh,
}

/// Where the live systems are. Passwords come from env only (IOTCTL_NATS_PASSWORD, the
/// spec's warehouse.password_env), never from flags.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// NATS server URL(s), comma-separated; default: the spec's nats.servers
    #[arg(long, env = "IOTCTL_NATS_URL", hide_env_values = true, value_name = "URLS")]
    pub nats_url: Option<String>,

    /// NATS credentials file (JWT + nkey)
    #[arg(long, env = "IOTCTL_NATS_CREDS", hide_env_values = true, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,

    /// NATS user; the password is read from IOTCTL_NATS_PASSWORD
    #[arg(long, env = "IOTCTL_NATS_USER", hide_env_values = true)]
    pub nats_user: Option<String>,

    /// File holding an nkey seed
    #[arg(long, env = "IOTCTL_NATS_NKEY", hide_env_values = true, value_name = "FILE")]
    pub nats_nkey: Option<PathBuf>,

    /// CA certificate for TLS to NATS
    #[arg(long, env = "IOTCTL_NATS_TLS_CA", hide_env_values = true, value_name = "FILE")]
    pub nats_tls_ca: Option<PathBuf>,

    /// Require TLS to NATS
    #[arg(long)]
    pub nats_tls: bool,

    /// RisingWave URL (postgres://…:4566/dev); default: the env var named by risingwave.url_env
    #[arg(long, value_name = "URL")]
    pub risingwave_url: Option<String>,

    /// Warehouse URL; default: built from the spec when its password env var is set
    #[arg(
        long,
        env = "IOTCTL_WAREHOUSE_URL",
        hide_env_values = true,
        hide_env_values = true,
        value_name = "URL"
    )]
    pub warehouse_url: Option<String>,

    /// Directory to write the SQLMesh project to and run `sqlmesh plan` in
    #[arg(long, env = "IOTCTL_SQLMESH_DIR", hide_env_values = true, value_name = "DIR")]
    pub sqlmesh_dir: Option<PathBuf>,

    /// The sqlmesh executable
    #[arg(long, env = "IOTCTL_SQLMESH_BIN", hide_env_values = true, value_name = "PATH")]
    pub sqlmesh_bin: Option<PathBuf>,

    /// SQLMesh gateway; default: the spec's sqlmesh.default_gateway
    #[arg(long, value_name = "NAME")]
    pub sqlmesh_gateway: Option<String>,

    /// Seconds to wait for another apply of the same pipeline to finish
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Exit 1 when changes are pending (drift)
    #[arg(long)]
    pub check: bool,

    /// Limit to these systems
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<OnlySystem>,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Apply without asking (required when not on a terminal)
    #[arg(long, short)]
    pub yes: bool,

    /// Allow changes that delete data (stream deletion or replacement, shrunk retention, drops)
    #[arg(long)]
    pub allow_destructive: bool,

    /// Limit to these systems
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<OnlySystem>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Exit 1 when anything drifted from the spec
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct SpecArg {
    /// Pipeline spec file
    #[arg(long = "file", short = 'f', value_name = "SPEC")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    /// Treat warnings as errors
    #[arg(long)]
    pub deny_warnings: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    /// Directory to write artifacts to; without it, RisingWave DDL goes to stdout
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Compare DIR with what the spec renders instead of writing; exit 1 when stale
    #[arg(long, requires = "out")]
    pub check: bool,

    /// Directory of template overrides (same layout as the repository's sql/ and sqlmesh/)
    #[arg(long, value_name = "DIR")]
    pub templates: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ContractCommand {
    /// Detect breaking changes against an older spec or rendered contracts directory
    Check(ContractCheckArgs),
    /// Validate device payload files (JSON) against the telemetry contract
    Validate(ContractValidateArgs),
}

#[derive(Debug, Args)]
pub struct ContractCheckArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    /// The older contract: a spec file, a rendered `contracts/` directory or telemetry.schema.json
    #[arg(long, value_name = "OLD")]
    pub against: PathBuf,
}

#[derive(Debug, Args)]
pub struct ContractValidateArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    /// Payload files: one JSON document each, or NDJSON (one per line) with --ndjson
    #[arg(required = true, value_name = "PAYLOAD")]
    pub payloads: Vec<PathBuf>,

    /// Read each file as newline-delimited JSON
    #[arg(long)]
    pub ndjson: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SampleFormat {
    Csv,
    Ndjson,
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    /// First UTC day (YYYY-MM-DD); defaults to the spec's sqlmesh.start
    #[arg(long)]
    pub start: Option<String>,

    /// Number of days
    #[arg(long, default_value_t = 2)]
    pub days: u32,

    /// Devices per site and device type
    #[arg(long, default_value_t = 2)]
    pub devices: u32,

    /// Seconds between readings of one device and metric
    #[arg(long, default_value_t = 3600)]
    pub interval: u32,

    /// Output encoding
    #[arg(long = "encoding", value_enum, default_value_t = SampleFormat::Csv)]
    pub encoding: SampleFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LegArg {
    Raw,
    Batch,
    Stream,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// One UTC day (YYYY-MM-DD)
    #[arg(long, conflicts_with_all = ["since", "until"], required_unless_present = "since")]
    pub date: Option<String>,

    /// First day: a UTC day, an RFC 3339 time or a duration ago (its whole UTC day counts)
    #[arg(long, requires = "until")]
    pub since: Option<String>,

    /// End, exclusive: a UTC day, an RFC 3339 time or a duration ago (`0s` is now)
    #[arg(long, requires = "since")]
    pub until: Option<String>,

    /// Legs to compare; raw is the reference when present. stream is skipped without RisingWave
    #[arg(long, value_enum, value_delimiter = ',', default_value = "raw,batch,stream")]
    pub legs: Vec<LegArg>,

    /// Only these sites (comma-separated)
    #[arg(long, value_delimiter = ',')]
    pub site: Vec<String>,

    /// Largest relative difference of min, max and average that still matches (counts: exact)
    #[arg(long, default_value_t = 1e-6, value_name = "F")]
    pub tolerance: f64,

    /// How long after its end a day may still receive events; default: the spec's allowed lateness
    #[arg(long, value_name = "DURATION")]
    pub lateness: Option<String>,

    /// Read only messages NATS received from this time on (RFC 3339 or a duration ago); default:
    /// the whole retained stream, since replayed or simulated history arrives late
    #[arg(long, value_name = "TIME")]
    pub published_since: Option<String>,

    /// Worst mismatches to list per leg pair
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Rounds of canaries; each round sends one canary per site
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub count: u32,

    /// Time between rounds (500ms, 1s, 1m)
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,

    /// How long a canary may take to raise its alert before it counts as lost
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Only these sites (repeat the flag or separate with commas); default: every site
    #[arg(long, value_delimiter = ',')]
    pub site: Vec<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    Duration::parse(text)
}
