-- Daily per-device aggregates computed by RisingWave (cold_chain.daily_device_metrics) and sunk here by
-- upsert, so SQLMesh can audit the stream against the batch model on the same grain.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.stream_daily_device_metrics (
    window_start TIMESTAMPTZ NOT NULL,
    site TEXT NOT NULL,
    device_type TEXT NOT NULL,
    device_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    samples BIGINT NOT NULL,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    avg_value DOUBLE PRECISION,
    PRIMARY KEY (window_start, site, device_type, device_id, metric)
);
