-- Tumbling 1m aggregates of compressor.motor_current (ampere) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.agg_compressor_motor_current_1m AS
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
FROM TUMBLE(factory.counted_telemetry, ts, INTERVAL '1 minute')
WHERE device_type = 'compressor' AND metric = 'motor_current'
    AND ts > now() - INTERVAL '168 hours'
GROUP BY site, device_id, window_start, window_end;
