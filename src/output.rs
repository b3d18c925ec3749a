//! The Printer: the only owner of stdout and stderr. stdout carries data (SQL, JSON, tables);
//! everything meant for a person goes to stderr.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use serde_json::json;

use crate::spec::diagnostic::{render_github, render_human};
use crate::spec::{Diagnostic, SourceFile};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    #[default]
    Human,
    Json,
    /// GitHub Actions annotations (validate only; others print human output).
    Github,
    /// OpenMetrics text for Prometheus (status and probe only).
    Openmetrics,
}

pub struct Printer {
    pub format: Format,
    pub quiet: bool,
    pub color: bool,
}

impl Printer {
    pub fn new(format: Format, quiet: bool, no_color: bool) -> Printer {
        let color = !no_color && std::io::stderr().is_terminal();
        Printer { format, quiet, color }
    }

    /// Data for stdout, written as is.
    pub fn data(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }

    /// One JSON document on stdout.
    pub fn json(&self, value: &serde_json::Value) {
        self.data(&(serde_json::to_string_pretty(value).unwrap_or_default() + "\n"));
    }

    /// A message for a person on stderr; silent with --quiet.
    /// Asks a yes/no question on the terminal; only `y` or `yes` is a yes.
    pub fn confirm(&self, question: &str) -> std::io::Result<bool> {
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
    }

    pub fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Diagnostics and errors on stderr, even with --quiet.
    pub fn diagnostic(&self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// One line of a tool iotctl runs (`  sqlmesh | …`), on stderr; not with --quiet or JSON.
    pub fn tool_line(&self, tool: &str, line: &str) {
        if !self.quiet && !self.is_json() {
            eprintln!("  {tool} | {line}");
        }
    }

    /// Prints diagnostics in the printer's format: human on stderr, JSON / GitHub on stdout.
    pub fn report(&self, source: Option<&SourceFile>, diagnostics: &[Diagnostic]) {
        let printer = self;
        match printer.format {
            Format::Human | Format::Openmetrics => {
                for d in diagnostics {
                    printer.diagnostic(&format!("{}\n", render_human(d, source)));
                }
                let errors = diagnostics.iter().filter(|d| d.is_error()).count();
                let warnings = diagnostics.len() - errors;
                if errors > 0 {
                    printer.diagnostic(&format!(
                        "{}: {} error{} and {} warning{} in {}\n",
                        printer.paint("error", "31;1"),
                        errors,
                        plural(errors),
                        warnings,
                        plural(warnings),
                        source.map_or("the spec", |s| s.name.as_str())
                    ));
                }
            }
            Format::Json => printer.json(&json!({
                "ok": !diagnostics.iter().any(Diagnostic::is_error),
                "diagnostics": diagnostics,
            })),
            Format::Github => {
                for d in diagnostics {
                    printer.data(&format!("{}\n", render_github(d)));
                }
            }
        }
    }

    pub fn is_json(&self) -> bool {
        self.format == Format::Json
    }

    /// Prints `error: …`, `caused by: …` lines and an optional hint.
    pub fn error(&self, error: &anyhow::Error, hint: Option<&str>) {
        let mut text = format!("{}: {error}\n", self.paint("error", "31;1"));
        for cause in error.chain().skip(1) {
            text.push_str(&format!("  caused by: {cause}\n"));
        }
        if let Some(hint) = hint {
            text.push_str(&format!("{}: {hint}\n", self.paint("hint", "36")));
        }
        self.diagnostic(&text);
    }

    pub fn paint(&self, text: &str, ansi: &str) -> String {
        if self.color {
            format!("\x1b[{ansi}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// A progress bar on stderr, drawn only on a terminal and never with --quiet or JSON.
    pub fn progress(&self, length: u64, prefix: &str) -> indicatif::ProgressBar {
        if self.quiet || self.is_json() || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(length);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_prefix(prefix.to_string());
        bar
    }

    /// A comfy-table with this printer's conventions.
    pub fn table(&self, header: &[&str]) -> comfy_table::Table {
        let mut table = comfy_table::Table::new();
        table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        table.set_header(header.to_vec());
        if !self.color {
            table.force_no_tty();
        }
        table
    }
}

/// This process's peak resident set size (Linux `VmHWM`), for run summaries.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The plural ending of a count in a message: `1 error`, `2 errors`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}
