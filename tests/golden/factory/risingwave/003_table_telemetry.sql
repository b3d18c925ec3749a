-- Ingestion point: every message published to iot.>, as its raw bytes.
-- ENCODE BYTES turns every message into a row, whatever it holds (the JSON parser would skip
-- what it cannot parse), and no watermark filters rows here: the classification after this
-- table sees every event and sends each either on or to the dead-letter stream.
-- received_at is when RisingWave read the message: the reference of the clock-skew and
-- lateness rules. A table (not a source), so that one NATS reader feeds every view.
-- one reader per durable consumer (RisingWave #25681)
SET streaming_parallelism_for_table = 1;
CREATE TABLE IF NOT EXISTS factory.telemetry (
    payload BYTEA,
    received_at TIMESTAMPTZ AS proctime()
)
APPEND ONLY
INCLUDE subject AS nats_subject
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'iot.>',
    connect_mode = 'plain',
    stream = 'FACTORY_TELEMETRY',
    consumer.durable_name = 'factory_risingwave',
    consumer.ack_policy = 'explicit',
    consumer.max_ack_pending = '1000000',
    retention_seconds = '604800'
)
FORMAT PLAIN ENCODE BYTES;
SET streaming_parallelism_for_table TO DEFAULT;
