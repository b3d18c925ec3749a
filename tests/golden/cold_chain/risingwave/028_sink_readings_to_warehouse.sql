-- Valid raw telemetry into the warehouse table raw.readings: the contract's fields, late
-- events included. Upsert on the event identity (device_id,metric,seq) keeps it exact
-- under at-least-once delivery. Probe canaries (iotctl-canary-%) stay out.
CREATE SINK IF NOT EXISTS cold_chain.readings_to_warehouse AS
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
    shipment_id,
    gps_fix,
    recorded_at_gateway
FROM cold_chain.valid_telemetry
WHERE device_id NOT LIKE 'iotctl-canary-%'
WITH (
    connector = 'postgres',
    host = 'warehouse.cold.internal',
    port = '5432',
    user = 'cold_chain_writer',
    password = SECRET cold_chain_warehouse_password,
    database = 'cold_chain',
    schema = 'raw',
    table = 'readings',
    type = 'upsert',
    primary_key = 'device_id,metric,seq',
    ignore_delete = 'true',
    ssl_mode = 'require'
);
