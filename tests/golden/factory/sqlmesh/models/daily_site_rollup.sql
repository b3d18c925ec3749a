MODEL (
  name device_health.daily_site_rollup,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column event_date,
    batch_size 7,
    lookback 2
  ),
  cron '@daily',
  grain (event_date, site, device_type, metric),
  description 'Daily health per site, device type and metric, rolled up from the device metrics',
  columns (
    event_date DATE,
    site TEXT,
    device_type TEXT,
    metric TEXT,
    device_count BIGINT,
    sample_count BIGINT,
    min_value DOUBLE,
    max_value DOUBLE,
    avg_value DOUBLE,
    warning_breaches BIGINT,
    critical_breaches BIGINT,
    devices_with_critical BIGINT
  ),
  audits (
    ROLLUP_MATCHES_DEVICE_METRICS
  )
);

SELECT
  d.event_date,
  d.site,
  d.device_type,
  d.metric,
  CAST(COUNT(*) AS BIGINT) AS device_count,
  CAST(SUM(d.sample_count) AS BIGINT) AS sample_count,
  CAST(MIN(d.min_value) AS DOUBLE) AS min_value,
  CAST(MAX(d.max_value) AS DOUBLE) AS max_value,
  CAST(SUM(d.avg_value * d.sample_count) / SUM(d.sample_count) AS DOUBLE) AS avg_value,
  CAST(SUM(d.warning_breaches) AS BIGINT) AS warning_breaches,
  CAST(SUM(d.critical_breaches) AS BIGINT) AS critical_breaches,
  CAST(SUM(CASE WHEN d.critical_breaches > 0 THEN 1 ELSE 0 END) AS BIGINT) AS devices_with_critical
FROM device_health.daily_device_metrics AS d
WHERE
  d.event_date BETWEEN @start_ds AND @end_ds
GROUP BY
  d.event_date,
  d.site,
  d.device_type,
  d.metric
