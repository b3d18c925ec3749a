//! Command-line types. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;

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
