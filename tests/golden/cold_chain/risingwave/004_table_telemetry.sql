-- Ingestion point: every message published to fleet.eu.>, as its raw bytes.
-- ENCODE BYTES turns every message into a row, whatever it holds (the JSON parser would skip
-- what it cannot parse), and no watermark filters rows here: the classification after this
-- table sees every event and sends each either on or to the dead-letter stream.
-- received_at is when RisingWave read the message: the reference of the clock-skew and
-- lateness rules. A table (not a source), so that one NATS reader feeds every view.
-- one reader per durable consumer (RisingWave #25681)
SET streaming_parallelism_for_table = 1;
CREATE TABLE IF NOT EXISTS cold_chain.telemetry (
    payload BYTEA,
    received_at TIMESTAMPTZ AS proctime()
)
APPEND ONLY
INCLUDE subject AS nats_subject
WITH (
    connector = 'nats',
    server_url = 'nats://nats-1.cold.internal:4222,nats://nats-2.cold.internal:4222',
    subject = 'fleet.eu.>',
    connect_mode = 'user_and_password',
    username = 'risingwave',
    password = SECRET cold_chain_nats_password,
    stream = 'COLD_CHAIN_TELEMETRY',
    consumer.durable_name = 'cold_chain_risingwave',
    consumer.ack_policy = 'explicit',
    retention_seconds = '864000',
    consumer.ack_wait.sec = '60',
    consumer.max_ack_pending = '10000'
)
FORMAT PLAIN ENCODE BYTES;
SET streaming_parallelism_for_table TO DEFAULT;
