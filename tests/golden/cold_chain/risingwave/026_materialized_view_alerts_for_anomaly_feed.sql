-- The alerts sink anomaly_feed forwards: severities critical; kinds anomaly.
CREATE MATERIALIZED VIEW IF NOT EXISTS cold_chain.alerts_for_anomaly_feed AS
SELECT *
FROM cold_chain.alerts
WHERE severity IN ('critical') AND kind IN ('anomaly');
