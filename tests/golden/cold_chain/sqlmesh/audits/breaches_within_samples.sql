AUDIT (
  name breaches_within_samples
);

/* A day cannot hold more breaches than readings. */
SELECT
  *
FROM @this_model
WHERE
  warning_breaches + critical_breaches > sample_count OR sample_count <= 0
