-- Z-score anomalies: |value - mean| > k * stddev over each device's own recent baseline of
-- readings that arrived on time (late ones neither page nor shift the baseline).
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.anomalies AS
SELECT
    alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CAST('warning' AS VARCHAR) AS severity,
    baseline_mean,
    baseline_stddev,
    (value - baseline_mean) / baseline_stddev AS zscore
FROM (
    SELECT
        event_id AS alert_key,
        device_id,
        site,
        device_type,
        metric,
        ts,
        value,
        avg(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 60 PRECEDING AND 1 PRECEDING) AS baseline_mean,
        stddev_samp(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 60 PRECEDING AND 1 PRECEDING) AS baseline_stddev,
        count(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 60 PRECEDING AND 1 PRECEDING) AS baseline_samples
    FROM factory.live_telemetry
    WHERE device_type = 'press' AND metric = 'oil_temperature' AND NOT late
        AND ts > now() - INTERVAL '10075 minutes'
) AS baseline
WHERE baseline_samples >= 20
    AND baseline_stddev > 0
    AND abs(value - baseline_mean) > 3.5 * baseline_stddev
UNION ALL
SELECT
    alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CAST('critical' AS VARCHAR) AS severity,
    baseline_mean,
    baseline_stddev,
    (value - baseline_mean) / baseline_stddev AS zscore
FROM (
    SELECT
        event_id AS alert_key,
        device_id,
        site,
        device_type,
        metric,
        ts,
        value,
        avg(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 120 PRECEDING AND 1 PRECEDING) AS baseline_mean,
        stddev_samp(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 120 PRECEDING AND 1 PRECEDING) AS baseline_stddev,
        count(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 120 PRECEDING AND 1 PRECEDING) AS baseline_samples
    FROM factory.live_telemetry
    WHERE device_type = 'press' AND metric = 'hydraulic_pressure' AND NOT late
        AND ts > now() - INTERVAL '10075 minutes'
) AS baseline
WHERE baseline_samples >= 30
    AND baseline_stddev > 0
    AND abs(value - baseline_mean) > 4.0 * baseline_stddev
UNION ALL
SELECT
    alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CAST('warning' AS VARCHAR) AS severity,
    baseline_mean,
    baseline_stddev,
    (value - baseline_mean) / baseline_stddev AS zscore
FROM (
    SELECT
        event_id AS alert_key,
        device_id,
        site,
        device_type,
        metric,
        ts,
        value,
        avg(value) OVER (PARTITION BY device_id ORDER BY ts RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND CURRENT ROW) AS baseline_mean,
        stddev_samp(value) OVER (PARTITION BY device_id ORDER BY ts RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND CURRENT ROW) AS baseline_stddev,
        count(value) OVER (PARTITION BY device_id ORDER BY ts RANGE BETWEEN INTERVAL '10 minutes' PRECEDING AND CURRENT ROW) AS baseline_samples
    FROM factory.live_telemetry
    WHERE device_type = 'cnc_mill' AND metric = 'spindle_vibration' AND NOT late
        AND ts > now() - INTERVAL '10075 minutes'
) AS baseline
WHERE baseline_samples >= 10
    AND baseline_stddev > 0
    AND abs(value - baseline_mean) > 3.0 * baseline_stddev
UNION ALL
SELECT
    alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CAST('warning' AS VARCHAR) AS severity,
    baseline_mean,
    baseline_stddev,
    (value - baseline_mean) / baseline_stddev AS zscore
FROM (
    SELECT
        event_id AS alert_key,
        device_id,
        site,
        device_type,
        metric,
        ts,
        value,
        avg(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 30 PRECEDING AND 1 PRECEDING) AS baseline_mean,
        stddev_samp(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 30 PRECEDING AND 1 PRECEDING) AS baseline_stddev,
        count(value) OVER (PARTITION BY device_id ORDER BY ts ROWS BETWEEN 30 PRECEDING AND 1 PRECEDING) AS baseline_samples
    FROM factory.live_telemetry
    WHERE device_type = 'compressor' AND metric = 'motor_current' AND NOT late
        AND ts > now() - INTERVAL '10075 minutes'
) AS baseline
WHERE baseline_samples >= 15
    AND baseline_stddev > 0
    AND abs(value - baseline_mean) > 3.0 * baseline_stddev;
