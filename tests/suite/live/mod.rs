//! Live tests: real nats-server, PostgreSQL and SQLMesh, started by the harness.
//! Each test owns its servers, directories and databases, so tests run in parallel.
//! A missing tool fails the test with the command that installs it (scripts/setup.sh).

mod apply_systems;
mod batch_days;
mod dlq;
mod naming;
mod observability;
mod ordered_read;
mod probe;
mod provision;
mod reconcile;
mod replay;
mod replay_duckdb;
mod risingwave;
mod sqlmesh;
