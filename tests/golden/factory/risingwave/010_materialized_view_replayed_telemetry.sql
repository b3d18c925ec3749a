-- Replayed events counted once: the first copy of each identity (event_id),
-- and only if the live path has not counted it already. Should the live copy arrive after the
-- replayed one, the replayed row is retracted. Both sides keep state per identity, for the
-- whole UTC days the telemetry stream retains (the same bound on both, so a day leaves both
-- sides in one step).
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.replayed_telemetry AS
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
    line,
    operating_mode
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ts) AS copy
    FROM factory.telemetry_replay
    WHERE event_id IS NOT NULL AND device_id IS NOT NULL AND site IS NOT NULL AND device_type IS NOT NULL AND metric IS NOT NULL AND ts IS NOT NULL AND value IS NOT NULL AND firmware_version IS NOT NULL
        AND ts >= date_trunc('day', now() - INTERVAL '10075 minutes', 'UTC') + INTERVAL '24 hours'
) AS replayed
WHERE copy = 1
    AND NOT EXISTS (
        SELECT 1
        FROM factory.live_telemetry AS live
        WHERE live.event_id = replayed.event_id
            AND live.ts >= date_trunc('day', now() - INTERVAL '10075 minutes', 'UTC') + INTERVAL '24 hours'
    );
