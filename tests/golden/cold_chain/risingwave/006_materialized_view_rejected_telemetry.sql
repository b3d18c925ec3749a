-- Events that break contract v3, each with its reason, for the dead-letter
-- stream. payload is the message's text; a payload that is not UTF-8 comes as payload_base64.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.rejected_telemetry AS
SELECT
    nats_subject AS original_subject,
    reject_reason,
    body_text AS payload,
    CASE WHEN body_text IS NULL THEN encode(payload, 'base64') END AS payload_base64,
    device_id,
    ts,
    received_at
FROM (
    SELECT
        *,
        CASE
            WHEN body_text IS NULL THEN 'payload is not UTF-8'
            WHEN body IS NULL THEN 'payload is not a JSON object'
            WHEN position('\u0000' IN body_text) > 0 THEN 'payload contains \u0000, which the warehouse cannot store'
            WHEN body -> 'device_id' IS NULL THEN 'missing required field device_id'
            WHEN body -> 'site' IS NULL THEN 'missing required field site'
            WHEN body -> 'device_type' IS NULL THEN 'missing required field device_type'
            WHEN body -> 'metric' IS NULL THEN 'missing required field metric'
            WHEN body -> 'ts' IS NULL THEN 'missing required field ts'
            WHEN body -> 'value' IS NULL THEN 'missing required field value'
            WHEN body -> 'seq' IS NULL THEN 'missing required field seq'
            WHEN body -> 'firmware_version' IS NULL THEN 'missing required field firmware_version'
            WHEN body -> 'event_id' IS NOT NULL AND event_id IS NULL THEN 'field event_id is not a string'
            WHEN body -> 'device_id' IS NOT NULL AND device_id IS NULL THEN 'field device_id is not a string'
            WHEN body -> 'site' IS NOT NULL AND site IS NULL THEN 'field site is not a string'
            WHEN body -> 'device_type' IS NOT NULL AND device_type IS NULL THEN 'field device_type is not a string'
            WHEN body -> 'metric' IS NOT NULL AND metric IS NULL THEN 'field metric is not a string'
            WHEN body -> 'ts' IS NOT NULL AND ts IS NULL THEN 'field ts is not an RFC 3339 time with a zone'
            WHEN body -> 'value' IS NOT NULL AND value IS NULL THEN 'field value is not a number'
            WHEN body -> 'seq' IS NOT NULL AND seq IS NULL THEN 'field seq is not an integer'
            WHEN body -> 'firmware_version' IS NOT NULL AND firmware_version IS NULL THEN 'field firmware_version is not a string'
            WHEN body -> 'shipment_id' IS NOT NULL AND shipment_id IS NULL THEN 'field shipment_id is not a string'
            WHEN body -> 'gps_fix' IS NOT NULL AND gps_fix IS NULL THEN 'field gps_fix is not a boolean'
            WHEN body -> 'recorded_at_gateway' IS NOT NULL AND recorded_at_gateway IS NULL THEN 'field recorded_at_gateway is not an RFC 3339 time with a zone'
            WHEN event_id = '' THEN 'field event_id is an empty string'
            WHEN device_id = '' THEN 'field device_id is an empty string'
            WHEN site = '' THEN 'field site is an empty string'
            WHEN device_type = '' THEN 'field device_type is an empty string'
            WHEN metric = '' THEN 'field metric is an empty string'
            WHEN firmware_version = '' THEN 'field firmware_version is an empty string'
            WHEN shipment_id = '' THEN 'field shipment_id is an empty string'
            WHEN seq < 0 THEN 'field seq is negative'
            WHEN site NOT IN ('rotterdam', 'hamburg', 'antwerp') THEN 'unknown site'
            WHEN NOT (
                (device_type = 'reefer' AND metric = 'cargo_temperature') OR
                (device_type = 'reefer' AND metric = 'door_open') OR
                (device_type = 'reefer' AND metric = 'battery_voltage') OR
                (device_type = 'cold_room' AND metric = 'air_temperature') OR
                (device_type = 'cold_room' AND metric = 'humidity')
            ) THEN 'unknown device type or metric'
            WHEN NOT (
                (device_type = 'reefer' AND metric = 'cargo_temperature' AND value BETWEEN -40.0 AND 40.0) OR
                (device_type = 'reefer' AND metric = 'door_open' AND value BETWEEN 0.0 AND 1.0 AND value = round(value)) OR
                (device_type = 'reefer' AND metric = 'battery_voltage' AND value BETWEEN 0.0 AND 30.0) OR
                (device_type = 'cold_room' AND metric = 'air_temperature' AND value BETWEEN -40.0 AND 40.0) OR
                (device_type = 'cold_room' AND metric = 'humidity' AND value BETWEEN 0.0 AND 100.0)
            ) THEN 'value outside the metric''s valid range'
            WHEN split_part(nats_subject, '.', 3) <> site
                OR split_part(nats_subject, '.', 4) <> device_type
                OR split_part(nats_subject, '.', 5) <> metric
                OR split_part(nats_subject, '.', 6) <> ''
                THEN 'subject does not match site, device_type and metric'
            WHEN ts > received_at + INTERVAL '5 minutes' THEN 'ts is more than 5m ahead of the time the event was received'
        END AS reject_reason,
        ts < received_at - INTERVAL '30 seconds' AS late
    FROM (
        SELECT
            nats_subject,
            received_at,
            payload,
            body_text,
            body,
            CASE WHEN jsonb_typeof(body -> 'event_id') = 'string' THEN body ->> 'event_id' END AS event_id,
            CASE WHEN jsonb_typeof(body -> 'device_id') = 'string' THEN body ->> 'device_id' END AS device_id,
            CASE WHEN jsonb_typeof(body -> 'site') = 'string' THEN body ->> 'site' END AS site,
            CASE WHEN jsonb_typeof(body -> 'device_type') = 'string' THEN body ->> 'device_type' END AS device_type,
            CASE WHEN jsonb_typeof(body -> 'metric') = 'string' THEN body ->> 'metric' END AS metric,
            CASE WHEN jsonb_typeof(body -> 'ts') = 'string' AND (body ->> 'ts') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$' THEN CAST(body ->> 'ts' AS TIMESTAMPTZ) END AS ts,
            CASE WHEN jsonb_typeof(body -> 'value') = 'number' THEN CAST(body -> 'value' AS DOUBLE PRECISION) END AS value,
            CASE WHEN jsonb_typeof(body -> 'seq') = 'number' AND CAST(body -> 'seq' AS DOUBLE PRECISION) = round(CAST(body -> 'seq' AS DOUBLE PRECISION)) THEN CAST(CAST(body -> 'seq' AS DOUBLE PRECISION) AS BIGINT) END AS seq,
            CASE WHEN jsonb_typeof(body -> 'firmware_version') = 'string' THEN body ->> 'firmware_version' END AS firmware_version,
            CASE WHEN jsonb_typeof(body -> 'shipment_id') = 'string' THEN body ->> 'shipment_id' END AS shipment_id,
            CASE WHEN jsonb_typeof(body -> 'gps_fix') = 'boolean' THEN CAST(body -> 'gps_fix' AS BOOLEAN) END AS gps_fix,
            CASE WHEN jsonb_typeof(body -> 'recorded_at_gateway') = 'string' AND (body ->> 'recorded_at_gateway') ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$' THEN CAST(body ->> 'recorded_at_gateway' AS TIMESTAMPTZ) END AS recorded_at_gateway
        FROM (
            SELECT
                *,
                CASE WHEN body_text IS JSON OBJECT THEN CAST(body_text AS JSONB) END AS body
            FROM (
                SELECT nats_subject, received_at, payload, convert_from(payload, 'UTF8') AS body_text
                FROM cold_chain.telemetry
            ) AS decoded
        ) AS parsed
    ) AS typed
) AS classified
WHERE reject_reason IS NOT NULL
    -- the live horizon (10d); the dead-letter sink drops the expiry
    AND received_at > now() - INTERVAL '240 hours';
