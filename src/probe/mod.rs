//! `iotctl probe`, its pure part: which canary each site sends (a valid reading beyond a
//! critical threshold), where the alerts it must raise arrive, and the arithmetic of the
//! result (latency quantiles, loss, the verdict against the spec's SLOs).

pub mod canary;
pub mod summary;

pub use canary::{CanaryTarget, alert_subjects, canary_payload, targets};
pub use summary::{Summary, Verdict};
