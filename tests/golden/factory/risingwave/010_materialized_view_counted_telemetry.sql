-- What the aggregates count: live events, plus replayed ones the live path never counted.
-- Alerts read the live events only: replaying history must not page anyone.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.counted_telemetry AS
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
FROM factory.valid_telemetry
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
    line,
    operating_mode
FROM factory.replayed_telemetry;
