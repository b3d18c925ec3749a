-- Raw telemetry in the PostgreSQL warehouse: written by RisingWave's sink and by
-- `iotctl replay --to warehouse`, read by SQLMesh as an external model.
-- Primary key on the event identity: redelivered events overwrite, never duplicate.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.readings (
    event_id TEXT,
    device_id TEXT NOT NULL,
    site TEXT NOT NULL,
    device_type TEXT NOT NULL,
    metric TEXT NOT NULL,
    ts TIMESTAMPTZ NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    seq BIGINT NOT NULL,
    firmware_version TEXT NOT NULL,
    shipment_id TEXT,
    gps_fix BOOLEAN,
    recorded_at_gateway TIMESTAMPTZ,
    PRIMARY KEY (device_id, metric, seq)
);

CREATE INDEX IF NOT EXISTS readings_ts_idx ON raw.readings (ts);
