MODEL (
  name device_health.metric_thresholds,
  kind FULL,
  cron '@daily',
  grain (device_type, metric),
  description 'Valid ranges and alert thresholds of every metric, from the pipeline spec',
  ignored_rules (
    nomissingunittest
  ),
  columns (
    device_type TEXT,
    metric TEXT,
    unit TEXT,
    range_min DOUBLE,
    range_max DOUBLE,
    warning_above DOUBLE,
    warning_below DOUBLE,
    critical_above DOUBLE,
    critical_below DOUBLE
  ),
  audits (
    UNIQUE_COMBINATION_OF_COLUMNS(columns := (device_type, metric)),
    NOT_NULL(columns := (device_type, metric, range_min, range_max))
  )
);

SELECT
  CAST(t.device_type AS TEXT) AS device_type,
  CAST(t.metric AS TEXT) AS metric,
  CAST(t.unit AS TEXT) AS unit,
  CAST(t.range_min AS DOUBLE) AS range_min,
  CAST(t.range_max AS DOUBLE) AS range_max,
  CAST(t.warning_above AS DOUBLE) AS warning_above,
  CAST(t.warning_below AS DOUBLE) AS warning_below,
  CAST(t.critical_above AS DOUBLE) AS critical_above,
  CAST(t.critical_below AS DOUBLE) AS critical_below
FROM (VALUES
  ('press', 'oil_temperature', 'celsius', -20.0, 150.0, 70.0, NULL, 85.0, NULL),
  ('press', 'hydraulic_pressure', 'bar', 0.0, 400.0, 300.0, 120.0, 340.0, 80.0),
  ('press', 'stroke_count', 'strokes', 0.0, 100000.0, NULL, NULL, NULL, NULL),
  ('cnc_mill', 'spindle_vibration', 'mm/s', 0.0, 50.0, 7.1, NULL, 11.2, NULL),
  ('cnc_mill', 'spindle_load', 'percent', 0.0, 150.0, 95.0, NULL, 110.0, NULL),
  ('compressor', 'discharge_pressure', 'bar', 0.0, 16.0, 10.0, 6.5, 11.0, 5.5),
  ('compressor', 'motor_current', 'ampere', 0.0, 400.0, NULL, NULL, 320.0, NULL)) AS t(device_type, metric, unit, range_min, range_max, warning_above, warning_below, critical_above, critical_below)
