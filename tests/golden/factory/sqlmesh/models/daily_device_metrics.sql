MODEL (
  name device_health.daily_device_metrics,
  kind INCREMENTAL_BY_TIME_RANGE (
    time_column event_date,
    batch_size 7,
    lookback 2
  ),
  cron '@daily',
  grain (event_date, site, device_type, device_id, metric),
  description 'Daily health of every device and metric: reading statistics and threshold breaches (UTC days)',
  columns (
    event_date DATE,
    site TEXT,
    device_type TEXT,
    device_id TEXT,
    metric TEXT,
    sample_count BIGINT,
    min_value DOUBLE,
    max_value DOUBLE,
    avg_value DOUBLE,
    stddev_value DOUBLE,
    warning_breaches BIGINT,
    critical_breaches BIGINT
  ),
  column_descriptions (
    event_date = 'UTC day of the readings',
    sample_count = 'Valid readings that day',
    stddev_value = 'Sample standard deviation; NULL with a single reading',
    warning_breaches = 'Readings beyond a warning threshold but not a critical one',
    critical_breaches = 'Readings beyond a critical threshold'
  ),
  audits (
    STREAM_MATCHES_BATCH
  )
);

SELECT
  CAST(t.ts AT TIME ZONE 'UTC' AS DATE) AS event_date,
  t.site,
  t.device_type,
  t.device_id,
  t.metric,
  CAST(COUNT(*) AS BIGINT) AS sample_count,
  CAST(MIN(t.value) AS DOUBLE) AS min_value,
  CAST(MAX(t.value) AS DOUBLE) AS max_value,
  CAST(AVG(t.value) AS DOUBLE) AS avg_value,
  CAST(STDDEV_SAMP(t.value) AS DOUBLE) AS stddev_value,
  CAST(SUM(
    CASE
      WHEN t.value > th.critical_above OR t.value < th.critical_below
      THEN 0
      WHEN t.value > th.warning_above OR t.value < th.warning_below
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS warning_breaches,
  CAST(SUM(
    CASE
      WHEN t.value > th.critical_above OR t.value < th.critical_below
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS critical_breaches
FROM iot_raw.telemetry AS t
INNER JOIN device_health.metric_thresholds AS th
  ON t.device_type = th.device_type AND t.metric = th.metric
WHERE
  t.ts BETWEEN CAST(@start_tstz AS TIMESTAMPTZ) AND CAST(@end_tstz AS TIMESTAMPTZ)
  AND NOT t.device_id IS NULL
  AND NOT t.device_id LIKE 'iotctl-canary-%'
  AND NOT t.site IS NULL
  AND t.value BETWEEN th.range_min AND th.range_max
GROUP BY
  CAST(t.ts AT TIME ZONE 'UTC' AS DATE),
  t.site,
  t.device_type,
  t.device_id,
  t.metric
