-- Events that break contract v1, with the reason and the payload, for the
-- dead-letter stream. INCLUDE payload is the message parsed as jsonb, so the payload is its
-- JSON text (key order and spacing normalised). Unparseable JSON never reaches RisingWave's
-- table (it is skipped by the connector), which is why replays validate before publishing.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.rejected_telemetry AS
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
            WHEN event_id IS NULL THEN 'missing required field event_id'
            WHEN device_id IS NULL THEN 'missing required field device_id'
            WHEN site IS NULL THEN 'missing required field site'
            WHEN device_type IS NULL THEN 'missing required field device_type'
            WHEN metric IS NULL THEN 'missing required field metric'
            WHEN ts IS NULL THEN 'missing required field ts'
            WHEN value IS NULL THEN 'missing required field value'
            WHEN firmware_version IS NULL THEN 'missing required field firmware_version'
            WHEN split_part(nats_subject, '.', 2) <> site
                OR split_part(nats_subject, '.', 3) <> device_type
                OR split_part(nats_subject, '.', 4) <> metric
                THEN 'subject does not match site, device_type and metric'
            WHEN operating_mode NOT IN ('production', 'setup', 'maintenance', 'idle') THEN 'field operating_mode has a value outside its enum'
            WHEN NOT (
                (device_type = 'press' AND metric = 'oil_temperature' AND value BETWEEN -20.0 AND 150.0) OR
                (device_type = 'press' AND metric = 'hydraulic_pressure' AND value BETWEEN 0.0 AND 400.0) OR
                (device_type = 'press' AND metric = 'stroke_count' AND value BETWEEN 0.0 AND 100000.0) OR
                (device_type = 'cnc_mill' AND metric = 'spindle_vibration' AND value BETWEEN 0.0 AND 50.0) OR
                (device_type = 'cnc_mill' AND metric = 'spindle_load' AND value BETWEEN 0.0 AND 150.0) OR
                (device_type = 'compressor' AND metric = 'discharge_pressure' AND value BETWEEN 0.0 AND 16.0) OR
                (device_type = 'compressor' AND metric = 'motor_current' AND value BETWEEN 0.0 AND 400.0)
            ) THEN 'unknown metric or value outside its valid range'
        END AS reject_reason
    FROM factory.telemetry
) AS checked
WHERE reject_reason IS NOT NULL;
