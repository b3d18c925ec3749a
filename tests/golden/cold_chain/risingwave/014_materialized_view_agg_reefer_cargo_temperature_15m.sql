-- Tumbling 15m aggregates of reefer.cargo_temperature (celsius) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.agg_reefer_cargo_temperature_15m AS
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
FROM TUMBLE(cold_chain.counted_telemetry, ts, INTERVAL '15 minutes')
WHERE device_type = 'reefer' AND metric = 'cargo_temperature'
    AND ts > now() - INTERVAL '240 hours'
GROUP BY site, device_id, window_start, window_end;
