//! Rolling aggregates per device type, metric and window, and the daily statistics on the
//! SQLMesh model's grain (reconcile's stream leg), all over the counted events.

use serde::Serialize;

use super::{Pipeline, RwKind, StateBound, aggregate_name};

/// A temporal filter (`ts > now() - horizon`) expires readings, and with them their windows:
/// min and max over the counted events, which the replay anti-join can retract, keep each
/// reading (src/expr/core/src/aggregate/def.rs keeps single-value state only for append-only
/// input), but only while it is within the horizon.
const ROLLING_STATE: StateBound = StateBound::Bounded(
    "the readings and windows of the live horizon (the telemetry stream's max_age): a temporal filter expires older ones",
);
/// The counted events expire a whole UTC day at a time, so a day's statistics are deleted
/// whole, never shrunk; the warehouse sink ignores the deletion (`ignore_delete`).
const DAILY_STATE: StateBound = StateBound::Bounded(
    "one row per device, metric and day, and every reading for min and max, for the whole days the telemetry stream retains: older days expire whole, and the warehouse sink ignores the expiry",
);
use crate::spec::duration::Duration;

#[derive(Serialize)]
struct RollingAggregate<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    label: String,
    device_type: &'a str,
    metric: &'a str,
    unit: &'a str,
    size: String,
    hop: Option<String>,
    horizon: &'a str,
}

#[derive(Serialize)]
struct Daily<'a> {
    schema: &'a str,
    name: &'a str,
    source: &'a str,
    size: String,
    /// Whether a sink carries the view into the warehouse (for the SQLMesh audit).
    sunk: bool,
}

pub(super) fn render(p: &mut Pipeline) -> anyhow::Result<()> {
    let spec = p.spec;
    let (counted, horizon) = (p.names.counted.clone(), p.names.live_horizon.sql_interval(true));
    for device_type in &spec.device_types {
        for metric in &device_type.metrics {
            for window in &metric.windows {
                let name = aggregate_name(device_type.name.as_str(), metric.name.as_str(), window);
                let label = match window.hop {
                    Some(hop) => format!("Hopping {} (every {hop})", window.size),
                    None => format!("Tumbling {}", window.size),
                };
                let ddl = p.render(
                    "rolling_aggregate",
                    RollingAggregate {
                        schema: p.schema,
                        name: &name,
                        source: &counted,
                        label,
                        device_type: device_type.name.as_str(),
                        metric: metric.name.as_str(),
                        unit: &metric.unit,
                        size: window.size.sql_interval(false),
                        hop: window.hop.map(|h| h.sql_interval(false)),
                        horizon: &horizon,
                    },
                )?;
                p.push(
                    RwKind::MaterializedView,
                    name,
                    vec![counted.clone()],
                    ddl,
                    ROLLING_STATE,
                );
            }
        }
    }
    let daily = p.names.daily.clone();
    let ddl = p.render(
        "daily_device_metrics",
        Daily {
            schema: p.schema,
            name: &daily,
            source: &counted,
            size: Duration::from_days(1).sql_interval(false),
            sunk: spec.risingwave.warehouse_sink.enabled,
        },
    )?;
    p.push(RwKind::MaterializedView, daily, vec![counted], ddl, DAILY_STATE);
    Ok(())
}
