-- Replayed events counted once: the first copy of each identity (device_id, metric, seq),
-- and only if the live path has not counted it already. Should the live copy arrive after the
-- replayed one, the replayed row is retracted. Both sides keep state per identity, for the
-- whole UTC days the telemetry stream retains (the same bound on both, so a day leaves both
-- sides in one step).
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.replayed_telemetry AS
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
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY device_id, metric, seq ORDER BY ts) AS copy
    FROM cold_chain.telemetry_replay
    WHERE device_id IS NOT NULL AND site IS NOT NULL AND device_type IS NOT NULL AND metric IS NOT NULL AND ts IS NOT NULL AND value IS NOT NULL AND seq IS NOT NULL AND firmware_version IS NOT NULL
        AND ts >= date_trunc('day', now() - INTERVAL '14395 minutes', 'UTC') + INTERVAL '24 hours'
) AS replayed
WHERE copy = 1
    AND NOT EXISTS (
        SELECT 1
        FROM cold_chain.live_telemetry AS live
        WHERE live.device_id = replayed.device_id AND live.metric = replayed.metric AND live.seq = replayed.seq
            AND live.ts >= date_trunc('day', now() - INTERVAL '14395 minutes', 'UTC') + INTERVAL '24 hours'
    );
