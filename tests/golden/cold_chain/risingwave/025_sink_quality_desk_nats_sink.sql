-- Alerts of sink quality_desk to NATS subject alerts.fleet.eu.quality_desk (JSON, one message per row).
-- publish as rows arrive, not at checkpoints: alert latency
SET sink_decouple = false;
CREATE SINK IF NOT EXISTS cold_chain.quality_desk_nats_sink
FROM cold_chain.alerts_for_quality_desk
WITH (
    connector = 'nats',
    server_url = 'nats://nats-1.cold.internal:4222,nats://nats-2.cold.internal:4222',
    subject = 'alerts.fleet.eu.quality_desk',
    connect_mode = 'user_and_password',
    username = 'risingwave',
    password = SECRET cold_chain_nats_password,
    type = 'append-only',
    force_append_only = 'true',
    snapshot = 'false'
);
SET sink_decouple TO DEFAULT;
