-- Tumbling 5m aggregates of reefer.door_open (boolean) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.agg_reefer_door_open_5m AS
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
FROM TUMBLE(cold_chain.counted_telemetry, ts, INTERVAL '5 minutes')
WHERE device_type = 'reefer' AND metric = 'door_open'
    AND ts > now() - INTERVAL '240 hours'
GROUP BY site, device_id, window_start, window_end;
