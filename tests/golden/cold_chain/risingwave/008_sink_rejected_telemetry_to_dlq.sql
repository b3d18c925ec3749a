-- Events that break the contract to NATS subject dlq.fleet.eu.risingwave (JSON, one message per row).
-- publish as rows arrive, not at checkpoints: alert latency
SET sink_decouple = false;
CREATE SINK IF NOT EXISTS cold_chain.rejected_telemetry_to_dlq
FROM cold_chain.rejected_telemetry
WITH (
    connector = 'nats',
    server_url = 'nats://nats-1.cold.internal:4222,nats://nats-2.cold.internal:4222',
    subject = 'dlq.fleet.eu.risingwave',
    connect_mode = 'user_and_password',
    username = 'risingwave',
    password = SECRET cold_chain_nats_password,
    type = 'append-only',
    force_append_only = 'true',
    snapshot = 'false'
);
SET sink_decouple TO DEFAULT;
