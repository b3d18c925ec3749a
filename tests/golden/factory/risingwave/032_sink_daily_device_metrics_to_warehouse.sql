-- Daily device statistics into the warehouse table
-- iot_raw.stream_daily_device_metrics, upserted on the view's grain,
-- for the SQLMesh audit that compares stream and batch.
CREATE SINK IF NOT EXISTS factory.daily_device_metrics_to_warehouse
FROM factory.daily_device_metrics
WITH (
    connector = 'postgres',
    host = '127.0.0.1',
    port = '5432',
    user = 'iotctl',
    password = SECRET factory_warehouse_password,
    database = 'iot',
    schema = 'iot_raw',
    table = 'stream_daily_device_metrics',
    type = 'upsert',
    primary_key = 'window_start,site,device_type,device_id,metric',
    ignore_delete = 'true',
    max_batch_rows = '1024'
);
