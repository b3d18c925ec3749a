use std::process::ExitCode;

use clap::Parser;

use iotctl::cli::{Cli, Command, ContractCommand};
use iotctl::commands;
use iotctl::error::{CliError, Exit};
use iotctl::output::{Format, Printer};

// The reconcile and replay hot paths allocate per message on two threads; mimalloc's
// thread-local free lists keep that off the reading thread's back.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: help and version are successes; every other parse error is a usage error.
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    let printer = Printer::new(cli.format, cli.quiet, cli.no_color);
    if cli.format == Format::Openmetrics && !matches!(cli.command, Command::Status(_) | Command::Probe(_)) {
        printer.error(
            &anyhow::anyhow!("--format openmetrics is for `status` and `probe` only"),
            None,
        );
        return Exit::Usage.into();
    }
    let outcome = match &cli.command {
        Command::Validate(args) => commands::validate::run(&printer, args),
        Command::Render(args) => commands::render::run(&printer, args),
        Command::Contract(ContractCommand::Check(args)) => commands::contract::check(&printer, args),
        Command::Contract(ContractCommand::Validate(args)) => commands::contract::validate(&printer, args),
        Command::Sample(args) => commands::sample::run(&printer, args),
        Command::Plan(args) => commands::plan::run(&printer, args),
        Command::Apply(args) => commands::apply::run(&printer, args),
        Command::Status(args) => commands::status::run(&printer, args),
        Command::Probe(args) => commands::probe::run(&printer, args),
        Command::Replay(args) => commands::replay::run(&printer, args),
        Command::Simulate(args) => commands::simulate::run(&printer, args),
        Command::Reconcile(args) => commands::reconcile::run(&printer, args),
        Command::Dlq(command) => commands::dlq::run(&printer, command),
    };
    match outcome {
        Ok(exit) => exit.into(),
        Err(error) => {
            match &error {
                CliError::SpecReported => {}
                CliError::Usage(e) => printer.error(e, None),
                CliError::Runtime(e) => printer.error(e, None),
            }
            error.exit().into()
        }
    }
}
