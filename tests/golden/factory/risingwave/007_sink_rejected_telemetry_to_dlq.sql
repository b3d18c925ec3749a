-- Events that break the contract to NATS subject dlq.iot.risingwave (JSON, one message per row).
-- publish as rows arrive, not at checkpoints: alert latency
SET sink_decouple = false;
CREATE SINK IF NOT EXISTS factory.rejected_telemetry_to_dlq
FROM factory.rejected_telemetry
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'dlq.iot.risingwave',
    connect_mode = 'plain',
    type = 'append-only',
    force_append_only = 'true',
    snapshot = 'false'
);
SET sink_decouple TO DEFAULT;
