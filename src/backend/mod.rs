//! Thin I/O shells: observe live state and execute planned changes. No decisions here.

pub mod duckdb;
pub mod nats;
pub mod postgres;
pub mod risingwave;
pub mod sqlmesh;
pub mod warehouse;
pub mod warehouse_load;
