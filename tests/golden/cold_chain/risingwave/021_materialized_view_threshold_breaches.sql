-- Readings beyond a warning or critical threshold; critical wins when both apply. Late
-- readings (and replayed history, which never reaches this view) do not page.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.threshold_breaches AS
SELECT
    device_id || ':' || metric || ':' || CAST(seq AS VARCHAR) AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 8.0 THEN 'critical'
        WHEN value < -0.5 THEN 'critical'
        WHEN value > 6.0 THEN 'warning'
        WHEN value < 1.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 8.0 THEN CAST(8.0 AS DOUBLE PRECISION)
        WHEN value < -0.5 THEN CAST(-0.5 AS DOUBLE PRECISION)
        WHEN value > 6.0 THEN CAST(6.0 AS DOUBLE PRECISION)
        WHEN value < 1.0 THEN CAST(1.0 AS DOUBLE PRECISION)
    END AS threshold
FROM cold_chain.live_telemetry
WHERE device_type = 'reefer' AND metric = 'cargo_temperature' AND NOT late
    AND ts > now() - INTERVAL '14395 minutes'
    AND (value > 8.0 OR value < -0.5 OR value > 6.0 OR value < 1.0)
UNION ALL
SELECT
    device_id || ':' || metric || ':' || CAST(seq AS VARCHAR) AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value < 11.0 THEN 'critical'
        WHEN value < 11.8 THEN 'warning'
    END AS severity,
    CASE
        WHEN value < 11.0 THEN CAST(11.0 AS DOUBLE PRECISION)
        WHEN value < 11.8 THEN CAST(11.8 AS DOUBLE PRECISION)
    END AS threshold
FROM cold_chain.live_telemetry
WHERE device_type = 'reefer' AND metric = 'battery_voltage' AND NOT late
    AND ts > now() - INTERVAL '14395 minutes'
    AND (value < 11.0 OR value < 11.8)
UNION ALL
SELECT
    device_id || ':' || metric || ':' || CAST(seq AS VARCHAR) AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 8.0 THEN 'critical'
        WHEN value < 0.0 THEN 'critical'
        WHEN value > 6.0 THEN 'warning'
        WHEN value < 2.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 8.0 THEN CAST(8.0 AS DOUBLE PRECISION)
        WHEN value < 0.0 THEN CAST(0.0 AS DOUBLE PRECISION)
        WHEN value > 6.0 THEN CAST(6.0 AS DOUBLE PRECISION)
        WHEN value < 2.0 THEN CAST(2.0 AS DOUBLE PRECISION)
    END AS threshold
FROM cold_chain.live_telemetry
WHERE device_type = 'cold_room' AND metric = 'air_temperature' AND NOT late
    AND ts > now() - INTERVAL '14395 minutes'
    AND (value > 8.0 OR value < 0.0 OR value > 6.0 OR value < 2.0)
UNION ALL
SELECT
    device_id || ':' || metric || ':' || CAST(seq AS VARCHAR) AS alert_key,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    CASE
        WHEN value > 85.0 THEN 'warning'
    END AS severity,
    CASE
        WHEN value > 85.0 THEN CAST(85.0 AS DOUBLE PRECISION)
    END AS threshold
FROM cold_chain.live_telemetry
WHERE device_type = 'cold_room' AND metric = 'humidity' AND NOT late
    AND ts > now() - INTERVAL '14395 minutes'
    AND (value > 85.0);
