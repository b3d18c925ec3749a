-- Secret cold_chain_warehouse_password: password of the warehouse user the raw-telemetry sink writes as.
-- `iotctl apply` creates it from $COLD_CHAIN_WAREHOUSE_PASSWORD; by hand: psql -v cold_chain_warehouse_password="$COLD_CHAIN_WAREHOUSE_PASSWORD" -f ...
-- The value never appears in a rendered file or in RisingWave's stored definitions.
CREATE SECRET cold_chain_warehouse_password WITH (backend = 'meta') AS :'cold_chain_warehouse_password';
