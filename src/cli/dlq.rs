//! `iotctl dlq`: the dead-letter stream's flags.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{ConnectionArgs, PlaceArgs, SpecArg};
pub use crate::jobs::dlq::RedriveTarget;

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per run; boxing would only obscure clap's derive"
)]
pub enum DlqCommand {
    /// Count dead letters by reason, by site/device type/metric and by writer, with examples
    Stats(DlqStatsArgs),
    /// Show dead letters whole: original subject, sequence, reason, headers, payload
    Show(DlqShowArgs),
    /// Send the dead letters the current contract accepts back (resumable, deduplicated)
    Redrive(RedriveArgs),
}

/// Which dead letters: a time range of the dead-letter stream and the original event's place
/// and reason.
#[derive(Debug, Args)]
pub struct DlqFilterArgs {
    /// Dead letters stored since: an RFC 3339 time, a UTC day or a duration ago (6h, 2d)
    #[arg(long)]
    pub since: Option<String>,

    /// Dead letters stored until: an RFC 3339 time, a UTC day or a duration ago
    #[arg(long)]
    pub until: Option<String>,

    /// Where the original event was published
    #[command(flatten)]
    pub place: PlaceArgs,

    /// Only this reason, as `dlq stats` lists it
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct DlqStatsArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub filters: DlqFilterArgs,
}

#[derive(Debug, Args)]
pub struct DlqShowArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Sequences in the dead-letter stream (from `dlq stats`)
    #[arg(required = true, value_name = "SEQ")]
    pub sequences: Vec<u64>,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct RedriveArgs {
    #[command(subcommand)]
    pub command: Option<RedriveCommand>,

    #[command(flatten)]
    pub run: RedriveRunArgs,
}

#[derive(Debug, Subcommand)]
pub enum RedriveCommand {
    /// List redrives in the ledger
    List(RedriveLedgerArgs),
    /// Show one redrive: filters, counts, reasons that still fail, checkpoint, status
    Show(RedriveShowArgs),
}

#[derive(Debug, Args)]
pub struct RedriveLedgerArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct RedriveShowArgs {
    #[command(flatten)]
    pub spec: SpecArg,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Redrive id (from `dlq redrive list`)
    pub id: String,
}

#[derive(Debug, Args)]
pub struct RedriveRunArgs {
    /// Pipeline spec file: its current contract decides what is redriven
    #[arg(long = "file", short = 'f', value_name = "SPEC")]
    pub file: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Where the original event was published
    #[command(flatten)]
    pub place: PlaceArgs,

    /// Only this reason, as `dlq stats` lists it
    #[arg(long)]
    pub reason: Option<String>,

    /// Where accepted dead letters go
    #[arg(long, value_enum, default_value_t = RedriveTarget::Replay)]
    pub to: RedriveTarget,

    /// At most this many dead letters per second
    #[arg(long, value_name = "N")]
    pub rate: Option<u64>,

    /// At most this many selected dead letters
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,

    /// Print what would be redriven and what would stay, by reason; write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Continue an interrupted redrive from its checkpoint
    #[arg(long, value_name = "ID", conflicts_with_all = ["site", "device_type", "metric", "reason", "to", "limit"])]
    pub resume: Option<String>,
}
