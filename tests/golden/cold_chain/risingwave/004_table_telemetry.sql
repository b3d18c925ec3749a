-- Ingestion point: every telemetry event published to fleet.eu.>.
-- APPEND ONLY with an event-time watermark of 30s; a table (not a
-- source) so that one NATS reader feeds every downstream view.
CREATE TABLE IF NOT EXISTS cold_chain.telemetry (
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
    recorded_at_gateway TIMESTAMPTZ,
    WATERMARK FOR ts AS ts - INTERVAL '30 seconds'
)
APPEND ONLY
INCLUDE subject AS nats_subject
INCLUDE payload AS raw_payload
WITH (
    connector = 'nats',
    server_url = 'nats://nats-1.cold.internal:4222,nats://nats-2.cold.internal:4222',
    subject = 'fleet.eu.>',
    connect_mode = 'user_and_password',
    username = 'risingwave',
    password = SECRET cold_chain_nats_password,
    stream = 'COLD_CHAIN_TELEMETRY',
    consumer.durable_name = 'cold_chain_risingwave',
    consumer.ack_wait.sec = '60',
    consumer.max_ack_pending = '10000'
)
FORMAT PLAIN ENCODE JSON;
