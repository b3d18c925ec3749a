-- What the aggregates count: live events, plus replayed ones the live path never counted, of
-- the whole UTC days the telemetry stream retains (a recreated table refills exactly these).
-- Alerts read the live events only: replaying history must not page anyone. Probe canaries
-- (device ids iotctl-canary-%) page but never count.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.counted_telemetry AS
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
    recorded_at_gateway
FROM cold_chain.live_telemetry
WHERE ts >= date_trunc('day', now() - INTERVAL '14395 minutes', 'UTC') + INTERVAL '24 hours'
    AND device_id NOT LIKE 'iotctl-canary-%'
UNION ALL
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
    recorded_at_gateway
FROM cold_chain.replayed_telemetry
WHERE device_id NOT LIKE 'iotctl-canary-%';
