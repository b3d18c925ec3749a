-- Tumbling 1h aggregates of reefer.battery_voltage (volt) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.agg_reefer_battery_voltage_1h AS
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
FROM TUMBLE(cold_chain.counted_telemetry, ts, INTERVAL '1 hour')
WHERE device_type = 'reefer' AND metric = 'battery_voltage'
    AND ts > now() - INTERVAL '240 hours'
GROUP BY site, device_id, window_start, window_end;
