-- Daily device statistics into the warehouse table
-- raw.stream_daily_device_metrics, upserted on the view's grain,
-- for the SQLMesh audit that compares stream and batch.
CREATE SINK IF NOT EXISTS cold_chain.daily_device_metrics_to_warehouse
FROM cold_chain.daily_device_metrics
WITH (
    connector = 'postgres',
    host = 'warehouse.cold.internal',
    port = '5432',
    user = 'cold_chain_writer',
    password = SECRET cold_chain_warehouse_password,
    database = 'cold_chain',
    schema = 'raw',
    table = 'stream_daily_device_metrics',
    type = 'upsert',
    primary_key = 'window_start,site,device_type,device_id,metric',
    ignore_delete = 'true',
    ssl_mode = 'require'
);
