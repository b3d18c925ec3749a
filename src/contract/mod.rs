//! The telemetry contract as something to compare and to check payloads against.

pub mod check;
pub mod classify;
pub mod fast;
pub mod flat;
pub mod payload;
pub mod reasons;
pub mod surface;
