-- Alerts of sink all_alerts to NATS subject alerts.iot.all_alerts (JSON, one message per row).
-- publish as rows arrive, not at checkpoints: alert latency
SET sink_decouple = false;
CREATE SINK IF NOT EXISTS factory.all_alerts_nats_sink
FROM factory.alerts
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'alerts.iot.all_alerts',
    connect_mode = 'plain',
    type = 'append-only',
    force_append_only = 'true',
    snapshot = 'false'
);
SET sink_decouple TO DEFAULT;
