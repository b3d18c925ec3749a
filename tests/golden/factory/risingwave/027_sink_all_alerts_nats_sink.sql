-- Alerts of sink all_alerts to NATS subject alerts.iot.all_alerts (JSON, one message per row).
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
