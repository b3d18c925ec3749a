-- Valid raw telemetry into the warehouse table iot_raw.telemetry: the contract's fields, late
-- events included. Upsert on the event identity (event_id) keeps it exact
-- under at-least-once delivery. Probe canaries (iotctl-canary-%) stay out.
CREATE SINK IF NOT EXISTS factory.telemetry_to_warehouse AS
SELECT
    event_id,
    device_id,
    site,
    device_type,
    metric,
    ts,
    value,
    seq,
    firmware_version,
    line,
    operating_mode
FROM factory.valid_telemetry
WHERE device_id NOT LIKE 'iotctl-canary-%'
WITH (
    connector = 'postgres',
    host = '127.0.0.1',
    port = '5432',
    user = 'iotctl',
    password = SECRET factory_warehouse_password,
    database = 'iot',
    schema = 'iot_raw',
    table = 'telemetry',
    type = 'upsert',
    primary_key = 'event_id',
    ignore_delete = 'true',
    max_batch_rows = '1024'
);
