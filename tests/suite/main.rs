//! The integration tests, one binary: the CLI, contracts, diagnostics, goldens, the
//! RisingWave DDL checks and the spec fuzzer run without servers; `live` runs against real
//! ones the harness starts. `common` and `harness` are shared (the benches reuse the NATS
//! harness).

mod architecture;
mod cli;
mod common;
mod contracts;
mod diagnostics;
mod golden;
mod harness;
mod live;
mod observability;
mod risingwave_ddl;
mod spec_fuzz;
