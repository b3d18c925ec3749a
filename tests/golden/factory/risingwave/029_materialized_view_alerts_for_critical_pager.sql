-- The alerts sink critical_pager forwards: severities critical; kinds all.
CREATE MATERIALIZED VIEW IF NOT EXISTS factory.alerts_for_critical_pager AS
SELECT *
FROM factory.alerts
WHERE severity IN ('critical');
