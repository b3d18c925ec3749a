-- Hopping 15m (every 1m) aggregates of cnc_mill.spindle_vibration (mm/s) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.agg_cnc_mill_spindle_vibration_15m_every_1m AS
SELECT
    site,
    device_id,
    window_start,
    window_end,
    count(*) AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    avg(value) AS avg_value,
    stddev_samp(value) AS stddev_value
FROM HOP(factory.counted_telemetry, ts, INTERVAL '1 minute', INTERVAL '15 minutes')
WHERE device_type = 'cnc_mill' AND metric = 'spindle_vibration'
    AND ts > now() - INTERVAL '168 hours'
GROUP BY site, device_id, window_start, window_end;
