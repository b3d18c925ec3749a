-- Alerts of sink critical_pager to NATS subject alerts.iot.pager (JSON, one message per row).
-- publish as rows arrive, not at checkpoints: alert latency
SET sink_decouple = false;
CREATE SINK IF NOT EXISTS factory.critical_pager_nats_sink
FROM factory.alerts_for_critical_pager
WITH (
    connector = 'nats',
    server_url = 'nats://127.0.0.1:4222',
    subject = 'alerts.iot.pager',
    connect_mode = 'plain',
    type = 'append-only',
    force_append_only = 'true',
    snapshot = 'false'
);
SET sink_decouple TO DEFAULT;
