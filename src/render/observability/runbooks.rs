//! One runbook per alert: what it means, the names of this pipeline's streams, consumers and
//! views, and the exact iotctl commands to diagnose (a test runs them) and to repair.

use std::fmt::Write;

use super::alerts::Alert;
use super::chains::{Chain, Pipeline};
use crate::spec::streams::StreamRole;

/// The heading above the commands a test runs against a live stack.
pub const DIAGNOSE: &str = "## Diagnose";

pub fn runbook(p: &Pipeline, a: &Alert) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {} ({})\n", a.name, p.name);
    let _ = writeln!(
        out,
        "**Severity:** {} · **Fires when** `{}` holds for {}.\n",
        a.severity, a.expr, a.for_
    );
    let _ = writeln!(out, "{}\n", a.description);
    let _ = writeln!(out, "## What it means\n\n{}\n", a.meaning);
    let _ = writeln!(
        out,
        "SLOs of this pipeline: alert latency p99 ≤ {}, drop rate ≤ {}, replay reach ≥ {}.\n",
        p.latency_slo, p.max_drop_rate, p.retention
    );
    out.push_str("## This pipeline\n\n| what | name |\n|---|---|\n");
    for chain in &p.chains {
        chain_rows(&mut out, chain);
    }
    let _ = writeln!(out, "| warehouse table | `{}` |\n", p.warehouse_table);
    let _ = writeln!(
        out,
        "{DIAGNOSE}\n\nSet `SPEC` to this pipeline's spec file, and the connection variables (`IOTCTL_NATS_URL`, …) as for any iotctl command. Then:\n"
    );
    code_block(&mut out, &a.diagnose);
    out.push_str("## Repair\n\n");
    code_block(&mut out, &a.repair);
    out
}

fn chain_rows(out: &mut String, chain: &Chain) {
    let what = match chain.role {
        StreamRole::Telemetry => "telemetry",
        StreamRole::Replay => "replay",
        StreamRole::DeadLetter => "dead-letter",
        StreamRole::Alerts => "alerts",
    };
    let _ = writeln!(
        out,
        "| {what} stream | `{}` (subjects `{}`) |",
        chain.stream,
        chain.subjects.join("`, `")
    );
    if let (Some(consumer), Some(table)) = (&chain.consumer, &chain.table) {
        let _ = writeln!(
            out,
            "| {what}: RisingWave consumer → table | `{consumer}` → `{table}` |"
        );
    }
    if !chain.views.is_empty() {
        let _ = writeln!(out, "| {what}: views | {} |", ticked(&chain.views));
    }
    if !chain.sinks.is_empty() {
        let _ = writeln!(out, "| {what}: sinks | {} |", ticked(&chain.sinks));
    }
}

fn ticked(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

fn code_block(out: &mut String, lines: &[String]) {
    out.push_str("```sh\n");
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("```\n\n");
}

/// The commands of a runbook's Diagnose section, as a test runs them.
pub fn diagnose_commands(runbook: &str) -> Vec<String> {
    let Some((_, rest)) = runbook.split_once(DIAGNOSE) else {
        return vec![];
    };
    let Some((_, block)) = rest.split_once("```sh\n") else {
        return vec![];
    };
    let block = block.split_once("```").map_or(block, |(b, _)| b);
    block
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
