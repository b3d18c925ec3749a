-- Tumbling 1m aggregates of cold_room.air_temperature (celsius) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.agg_cold_room_air_temperature_1m AS
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
FROM TUMBLE(cold_chain.counted_telemetry, ts, INTERVAL '1 minute')
WHERE device_type = 'cold_room' AND metric = 'air_temperature'
    AND ts > now() - INTERVAL '240 hours'
GROUP BY site, device_id, window_start, window_end;
