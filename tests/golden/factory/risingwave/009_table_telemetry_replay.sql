-- Replayed telemetry: what `iotctl replay` republished to replay.iot.> (already
-- checked against the contract), read through its own durable consumer. No watermark: replayed
-- history is old by definition, and the live table's watermark would discard it.
-- one reader per durable consumer (RisingWave #25681)
SET streaming_parallelism_for_table = 1;
CREATE TABLE IF NOT EXISTS factory.telemetry_replay (
    event_id VARCHAR,
    device_id VARCHAR,
    site VARCHAR,
    device_type VARCHAR,
    metric VARCHAR,
    ts TIMESTAMPTZ,
    value DOUBLE PRECISION,
    seq BIGINT,
    firmware_version VARCHAR,
    line VARCHAR,
    operating_mode VARCHAR
)
APPEND ONLY
INCLUDE subject AS nats_subject
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'replay.iot.>',
    connect_mode = 'plain',
    stream = 'FACTORY_REPLAY',
    consumer.durable_name = 'factory_risingwave_replay',
    consumer.ack_policy = 'explicit',
    consumer.max_ack_pending = '1000000',
    retention_seconds = '604800'
)
FORMAT PLAIN ENCODE JSON;
SET streaming_parallelism_for_table TO DEFAULT;
