MODEL (
  name fleet_health.metric_thresholds,
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
  ('reefer', 'cargo_temperature', 'celsius', -40.0, 40.0, 6.0, 1.0, 8.0, -0.5),
  ('reefer', 'door_open', 'boolean', 0.0, 1.0, NULL, NULL, NULL, NULL),
  ('reefer', 'battery_voltage', 'volt', 0.0, 30.0, NULL, 11.8, NULL, 11.0),
  ('cold_room', 'air_temperature', 'celsius', -40.0, 40.0, 6.0, 2.0, 8.0, 0.0),
  ('cold_room', 'humidity', 'percent', 0.0, 100.0, 85.0, NULL, NULL, NULL)) AS t(device_type, metric, unit, range_min, range_max, warning_above, warning_below, critical_above, critical_below)
