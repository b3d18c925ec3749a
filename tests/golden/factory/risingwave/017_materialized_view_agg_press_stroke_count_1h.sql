-- Tumbling 1h aggregates of press.stroke_count (strokes) per device.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.agg_press_stroke_count_1h AS
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
FROM TUMBLE(factory.counted_telemetry, ts, INTERVAL '1 hour')
WHERE device_type = 'press' AND metric = 'stroke_count'
    AND ts > now() - INTERVAL '168 hours'
GROUP BY site, device_id, window_start, window_end;
