AUDIT (
  name rollup_matches_device_metrics,
  blocking FALSE
);

/* Every site rollup group of the interval equals the sum of its devices' rows: a group on one
   side only, or other counts, means one model was rebuilt without the other (a restatement
   that stopped half-way). Not blocking: the plan that repairs the hole must be able to run;
   `iotctl apply` finds such days itself and restates both models. */
WITH devices AS (
  SELECT
    event_date,
    site,
    device_type,
    metric,
    COUNT(*) AS device_count,
    SUM(sample_count) AS sample_count,
    SUM(critical_breaches) AS critical_breaches
  FROM device_health.daily_device_metrics
  WHERE
    event_date BETWEEN @start_ds AND @end_ds
  GROUP BY
    event_date,
    site,
    device_type,
    metric
)
SELECT
  COALESCE(r.event_date, d.event_date) AS event_date,
  COALESCE(r.site, d.site) AS site,
  COALESCE(r.device_type, d.device_type) AS device_type,
  COALESCE(r.metric, d.metric) AS metric,
  r.sample_count AS rollup_samples,
  d.sample_count AS device_samples
FROM @this_model AS r
FULL OUTER JOIN devices AS d
  ON r.event_date = d.event_date
  AND r.site = d.site
  AND r.device_type = d.device_type
  AND r.metric = d.metric
WHERE
  r.sample_count IS DISTINCT FROM d.sample_count
  OR r.device_count IS DISTINCT FROM d.device_count
  OR r.critical_breaches IS DISTINCT FROM d.critical_breaches
