-- Where every message the ingestion table read within the live horizon went: accepted on
-- time, accepted late, a probe's canary (valid, never counted), or dead-lettered with its
-- reason. The events add up to the table's
-- rows of the horizon.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.telemetry_accounting AS
SELECT
    outcome,
    reason,
    count(*) AS events,
    max(received_at) AS last_received_at
FROM (
    SELECT
        CASE
            WHEN device_id LIKE 'iotctl-canary-%' THEN 'canary'
            WHEN late THEN 'late'
            ELSE 'on_time'
        END AS outcome,
        CAST(NULL AS VARCHAR) AS reason,
        received_at
    FROM cold_chain.valid_telemetry
    UNION ALL
    SELECT
        CAST('dead_lettered' AS VARCHAR) AS outcome,
        reject_reason AS reason,
        received_at
    FROM cold_chain.rejected_telemetry
) AS outcomes
GROUP BY outcome, reason;
