-- Replayed telemetry: what `iotctl replay` republished to replay.fleet.eu.> (already
-- checked against the contract), read through its own durable consumer. No watermark: replayed
-- history is old by definition, and the live table's watermark would discard it.
-- one reader per durable consumer (RisingWave #25681)
SET streaming_parallelism_for_table = 1;
CREATE TABLE IF NOT EXISTS cold_chain.telemetry_replay (
    event_id VARCHAR,
    device_id VARCHAR,
    site VARCHAR,
    device_type VARCHAR,
    metric VARCHAR,
    ts TIMESTAMPTZ,
    value DOUBLE PRECISION,
    seq BIGINT,
    firmware_version VARCHAR,
    shipment_id VARCHAR,
    gps_fix BOOLEAN,
    recorded_at_gateway TIMESTAMPTZ
)
APPEND ONLY
INCLUDE subject AS nats_subject
WITH (
    connector = 'nats',
    server_url = 'nats://nats-1.cold.internal:4222,nats://nats-2.cold.internal:4222',
    subject = 'replay.fleet.eu.>',
    connect_mode = 'user_and_password',
    username = 'risingwave',
    password = SECRET cold_chain_nats_password,
    stream = 'COLD_CHAIN_REPLAY',
    consumer.durable_name = 'cold_chain_risingwave_replay',
    consumer.ack_policy = 'explicit',
    consumer.max_ack_pending = '1000000',
    retention_seconds = '864000'
)
FORMAT PLAIN ENCODE JSON;
SET streaming_parallelism_for_table TO DEFAULT;
