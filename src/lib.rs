//! iotctl: a SQL-first control plane for IoT streaming analytics.
//!
//! The pure core (`spec`, `render`, `contract`, `sample`) turns one YAML pipeline spec into
//! typed, validated artifacts and never touches the network; `commands` are thin glue.

pub mod backend;
pub mod cli;
pub mod commands;
pub mod contract;
pub mod dlq;
pub mod engine;
pub mod error;
pub mod fxhash;
pub mod jobs;
pub mod observability;
pub mod output;
pub mod plan;
pub mod probe;
pub mod quoting;
pub mod reconcile;
pub mod reference;
pub mod render;
pub mod sample;
pub mod settings;
pub mod simulate;
pub mod spec;
pub mod time;
