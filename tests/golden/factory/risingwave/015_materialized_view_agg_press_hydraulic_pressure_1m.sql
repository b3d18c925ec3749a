-- Tumbling 1m aggregates of press.hydraulic_pressure (bar) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.agg_press_hydraulic_pressure_1m AS
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
WHERE device_type = 'press' AND metric = 'hydraulic_pressure'
    AND ts > now() - INTERVAL '168 hours'
GROUP BY site, device_id, window_start, window_end;
