-- Every alert in one shape, for sinks and dashboards. alert_id is stable across
-- redeliveries, so consumers can deduplicate.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.alerts AS
SELECT
    alert_key || ':threshold' AS alert_id,
    CAST('threshold' AS VARCHAR) AS kind,
    severity,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    threshold,
    CAST(NULL AS DOUBLE PRECISION) AS zscore
FROM factory.threshold_breaches
UNION ALL
SELECT
    alert_key || ':anomaly' AS alert_id,
    CAST('anomaly' AS VARCHAR) AS kind,
    severity,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CAST(NULL AS DOUBLE PRECISION) AS threshold,
    zscore
FROM factory.anomalies;
