-- The alerts sink quality_desk forwards: severities all; kinds threshold.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.alerts_for_quality_desk AS
SELECT *
FROM cold_chain.alerts
WHERE kind IN ('threshold');
