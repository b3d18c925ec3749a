//! Test servers and tools, started per test and stopped on drop.

pub mod nats;
pub mod postgres;
pub mod tools;
