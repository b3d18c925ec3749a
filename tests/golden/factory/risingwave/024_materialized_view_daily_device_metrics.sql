-- Daily statistics per device and metric (UTC days), on the SQLMesh daily model's grain: the
-- stream side of `iotctl reconcile` and, sunk to the warehouse, of the SQLMesh audit
-- against the batch model. It holds the whole UTC days the telemetry stream retains:
-- a day leaves whole, and the sink ignores the deletion.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.daily_device_metrics AS
SELECT
    window_start,
    site,
    device_type,
    device_id,
    metric,
    count(*) AS samples,
    min(value) AS min_value,
    max(value) AS max_value,
    avg(value) AS avg_value
FROM TUMBLE(factory.counted_telemetry, ts, INTERVAL '1 day')
GROUP BY window_start, site, device_type, device_id, metric;
