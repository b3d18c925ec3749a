//! What iotctl exports for monitoring: the metric catalog (one name, help text and label set
//! per gauge, read by `status`, `probe`, the Prometheus rules and the Grafana dashboard) and
//! the OpenMetrics text they are written in.

pub mod exposition;
pub mod metrics;
pub mod status;
