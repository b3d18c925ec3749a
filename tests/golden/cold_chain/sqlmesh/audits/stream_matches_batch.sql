AUDIT (
  name stream_matches_batch,
  blocking FALSE
);

/* Days RisingWave has sunk must agree with the batch model. The stream may miss no more than
   the SLO's drop rate (0.0: events behind its watermark), never hold more, and
   when the counts agree so must min, max and average (relative 0.000001). */
SELECT
  b.event_date,
  b.site,
  b.device_id,
  b.metric,
  b.sample_count,
  s.samples AS stream_samples,
  b.avg_value,
  s.avg_value AS stream_avg_value
FROM @this_model AS b
INNER JOIN raw.stream_daily_device_metrics AS s
  ON CAST(s.window_start AT TIME ZONE 'UTC' AS DATE) = b.event_date
  AND s.site = b.site
  AND s.device_id = b.device_id
  AND s.metric = b.metric
WHERE
  s.samples > b.sample_count
  OR b.sample_count - s.samples > b.sample_count * 0.0
  OR (
    s.samples = b.sample_count
    AND (
      ABS(s.min_value - b.min_value) > 0.000001 * GREATEST(1, ABS(b.min_value))
      OR ABS(s.max_value - b.max_value) > 0.000001 * GREATEST(1, ABS(b.max_value))
      OR ABS(s.avg_value - b.avg_value) > 0.000001 * GREATEST(1, ABS(b.avg_value))
    )
  )
