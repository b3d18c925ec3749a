-- Events that break contract v3, with the reason and the payload, for the
-- dead-letter stream. INCLUDE payload is the message parsed as jsonb, so the payload is its
-- JSON text (key order and spacing normalised). Unparseable JSON never reaches RisingWave's
-- table (it is skipped by the connector), which is why replays validate before publishing.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.rejected_telemetry AS
SELECT
    nats_subject AS original_subject,
    reject_reason,
    CAST(raw_payload AS VARCHAR) AS payload,
    device_id,
    ts
FROM (
    SELECT
        *,
        CASE
            WHEN device_id IS NULL THEN 'missing required field device_id'
            WHEN site IS NULL THEN 'missing required field site'
            WHEN device_type IS NULL THEN 'missing required field device_type'
            WHEN metric IS NULL THEN 'missing required field metric'
            WHEN ts IS NULL THEN 'missing required field ts'
            WHEN value IS NULL THEN 'missing required field value'
            WHEN seq IS NULL THEN 'missing required field seq'
            WHEN firmware_version IS NULL THEN 'missing required field firmware_version'
            WHEN split_part(nats_subject, '.', 3) <> site
                OR split_part(nats_subject, '.', 4) <> device_type
                OR split_part(nats_subject, '.', 5) <> metric
                THEN 'subject does not match site, device_type and metric'
            WHEN NOT (
                (device_type = 'reefer' AND metric = 'cargo_temperature' AND value BETWEEN -40.0 AND 40.0) OR
                (device_type = 'reefer' AND metric = 'door_open' AND value BETWEEN 0.0 AND 1.0) OR
                (device_type = 'reefer' AND metric = 'battery_voltage' AND value BETWEEN 0.0 AND 30.0) OR
                (device_type = 'cold_room' AND metric = 'air_temperature' AND value BETWEEN -40.0 AND 40.0) OR
                (device_type = 'cold_room' AND metric = 'humidity' AND value BETWEEN 0.0 AND 100.0)
            ) THEN 'unknown metric or value outside its valid range'
        END AS reject_reason
    FROM cold_chain.telemetry
) AS checked
WHERE reject_reason IS NOT NULL;
