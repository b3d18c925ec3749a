-- Readings beyond a warning or critical threshold; critical wins when both apply. Late
-- readings (and replayed history, which never reaches this view) do not page.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.threshold_breaches AS
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 85.0 THEN 'critical'
        WHEN value > 70.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 85.0 THEN CAST(85.0 AS DOUBLE PRECISION)
        WHEN value > 70.0 THEN CAST(70.0 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'press' AND metric = 'oil_temperature' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 85.0 OR value > 70.0)
UNION ALL
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 340.0 THEN 'critical'
        WHEN value < 80.0 THEN 'critical'
        WHEN value > 300.0 THEN 'warning'
        WHEN value < 120.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 340.0 THEN CAST(340.0 AS DOUBLE PRECISION)
        WHEN value < 80.0 THEN CAST(80.0 AS DOUBLE PRECISION)
        WHEN value > 300.0 THEN CAST(300.0 AS DOUBLE PRECISION)
        WHEN value < 120.0 THEN CAST(120.0 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'press' AND metric = 'hydraulic_pressure' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 340.0 OR value < 80.0 OR value > 300.0 OR value < 120.0)
UNION ALL
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 11.2 THEN 'critical'
        WHEN value > 7.1 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 11.2 THEN CAST(11.2 AS DOUBLE PRECISION)
        WHEN value > 7.1 THEN CAST(7.1 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'cnc_mill' AND metric = 'spindle_vibration' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 11.2 OR value > 7.1)
UNION ALL
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 110.0 THEN 'critical'
        WHEN value > 95.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 110.0 THEN CAST(110.0 AS DOUBLE PRECISION)
        WHEN value > 95.0 THEN CAST(95.0 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'cnc_mill' AND metric = 'spindle_load' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 110.0 OR value > 95.0)
UNION ALL
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 11.0 THEN 'critical'
        WHEN value < 5.5 THEN 'critical'
        WHEN value > 10.0 THEN 'warning'
        WHEN value < 6.5 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 11.0 THEN CAST(11.0 AS DOUBLE PRECISION)
        WHEN value < 5.5 THEN CAST(5.5 AS DOUBLE PRECISION)
        WHEN value > 10.0 THEN CAST(10.0 AS DOUBLE PRECISION)
        WHEN value < 6.5 THEN CAST(6.5 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'compressor' AND metric = 'discharge_pressure' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 11.0 OR value < 5.5 OR value > 10.0 OR value < 6.5)
UNION ALL
SELECT
    event_id AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 320.0 THEN 'critical'
    END AS severity,
    CASE
        WHEN value > 320.0 THEN CAST(320.0 AS DOUBLE PRECISION)
    END AS threshold
FROM factory.live_telemetry
WHERE device_type = 'compressor' AND metric = 'motor_current' AND NOT late
    AND ts > now() - INTERVAL '10075 minutes'
    AND (value > 320.0);
