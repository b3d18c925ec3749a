-- Live events, each once: the first delivery of each identity (device_id, metric, seq)
-- the classification accepted. NATS delivers at least once (a message not acked in time comes
-- again; RisingWave #25681), and every delivery is a row of the ingestion table. The counting,
-- the aggregates and the alerts read this view, so a redelivered event is neither counted nor
-- paged twice; the warehouse sink's upsert absorbs it on its own.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.live_telemetry AS
SELECT
    event_id,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    seq,
    firmware_version,
    shipment_id,
    gps_fix,
    recorded_at_gateway,
    received_at,
    late
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY device_id, metric, seq ORDER BY received_at) AS delivery
    FROM cold_chain.valid_telemetry
) AS deliveries
WHERE delivery = 1;
