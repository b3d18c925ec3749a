AUDIT (
  name stream_matches_batch,
  blocking FALSE
);

/* On the days RisingWave has sunk, every device-day must be on both sides (a FULL OUTER JOIN:
   a group missing from either side fails). The stream counts every valid event, late ones
   included, so it may miss no more than the SLO's drop rate (0.0001) and never
   hold more; when the counts agree so must min, max and average (relative 0.000001). */
WITH stream AS (
  SELECT
    CAST(window_start AT TIME ZONE 'UTC' AS DATE) AS event_date,
    site,
    device_type,
    device_id,
    metric,
    samples,
    min_value,
    max_value,
    avg_value
  FROM iot_raw.stream_daily_device_metrics
  WHERE
    CAST(window_start AT TIME ZONE 'UTC' AS DATE) BETWEEN CAST(@start_ds AS DATE) AND CAST(@end_ds AS DATE)
), compared AS (
  SELECT
    COALESCE(b.event_date, s.event_date) AS event_date,
    COALESCE(b.site, s.site) AS site,
    COALESCE(b.device_type, s.device_type) AS device_type,
    COALESCE(b.device_id, s.device_id) AS device_id,
    COALESCE(b.metric, s.metric) AS metric,
    b.sample_count,
    s.samples AS stream_samples,
    b.min_value,
    s.min_value AS stream_min_value,
    b.max_value,
    s.max_value AS stream_max_value,
    b.avg_value,
    s.avg_value AS stream_avg_value
  FROM @this_model AS b
  FULL OUTER JOIN stream AS s
    ON s.event_date = b.event_date
    AND s.site = b.site
    AND s.device_type = b.device_type
    AND s.device_id = b.device_id
    AND s.metric = b.metric
)
SELECT
  *
FROM compared
WHERE
  event_date IN (
    SELECT
      event_date
    FROM stream
  )
  AND (
    sample_count IS NULL
    OR stream_samples IS NULL
    OR stream_samples > sample_count
    OR sample_count - stream_samples > sample_count * 0.0001
    OR (
      stream_samples = sample_count
      AND (
        ABS(stream_min_value - min_value) > 0.000001 * GREATEST(1, ABS(min_value))
        OR ABS(stream_max_value - max_value) > 0.000001 * GREATEST(1, ABS(max_value))
        OR ABS(stream_avg_value - avg_value) > 0.000001 * GREATEST(1, ABS(avg_value))
      )
    )
  )
