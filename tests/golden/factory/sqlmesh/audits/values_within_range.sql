AUDIT (
  name values_within_range
);

/* Only readings inside the metric's valid range are aggregated. */
SELECT
  d.*
FROM @this_model AS d
INNER JOIN device_health.metric_thresholds AS th
  ON d.device_type = th.device_type AND d.metric = th.metric
WHERE
  d.min_value < th.range_min OR d.max_value > th.range_max
