-- Secret factory_warehouse_password: password of the warehouse user the raw-telemetry sink writes as.
-- `iotctl apply` creates it from $IOTCTL_WAREHOUSE_PASSWORD; by hand: psql -v factory_warehouse_password="$IOTCTL_WAREHOUSE_PASSWORD" -f ...
-- The value never appears in a rendered file or in RisingWave's stored definitions.
CREATE SECRET factory_warehouse_password WITH (backend = 'meta') AS :'factory_warehouse_password';
