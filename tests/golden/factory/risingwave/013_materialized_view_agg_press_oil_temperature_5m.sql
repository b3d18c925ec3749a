-- Tumbling 5m aggregates of press.oil_temperature (celsius) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.agg_press_oil_temperature_5m AS
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
FROM TUMBLE(factory.counted_telemetry, ts, INTERVAL '5 minutes')
WHERE device_type = 'press' AND metric = 'oil_temperature'
    AND ts > now() - INTERVAL '168 hours'
GROUP BY site, device_id, window_start, window_end;
