-- Ingestion point: every telemetry event published to iot.>.
-- APPEND ONLY with an event-time watermark of 5s; a table (not a
-- source) so that one NATS reader feeds every downstream view.
CREATE TABLE IF NOT EXISTS factory.telemetry (
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
    operating_mode VARCHAR,
    WATERMARK FOR ts AS ts - INTERVAL '5 seconds'
)
APPEND ONLY
INCLUDE subject AS nats_subject
INCLUDE payload AS raw_payload
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'iot.>',
    connect_mode = 'plain',
    stream = 'FACTORY_TELEMETRY',
    consumer.durable_name = 'factory_risingwave'
)
FORMAT PLAIN ENCODE JSON;
