-- Raw telemetry in the PostgreSQL warehouse: written by RisingWave's sink and by
-- `iotctl replay --to warehouse`, read by SQLMesh as an external model.
-- Primary key on the event identity: redelivered events overwrite, never duplicate.
CREATE SCHEMA IF NOT EXISTS iot_raw;

CREATE TABLE IF NOT EXISTS iot_raw.telemetry (
    event_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    site TEXT NOT NULL,
    device_type TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    seq BIGINT,
    firmware_version TEXT NOT NULL,
    line TEXT,
    operating_mode TEXT,
    PRIMARY KEY (event_id)
);

CREATE INDEX IF NOT EXISTS telemetry_ts_idx ON iot_raw.telemetry (ts);
