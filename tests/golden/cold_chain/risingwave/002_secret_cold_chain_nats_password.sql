-- Secret cold_chain_nats_password: password RisingWave uses to connect to NATS.
-- `iotctl apply` creates it from $IOTCTL_NATS_PASSWORD; by hand: psql -v cold_chain_nats_password="$IOTCTL_NATS_PASSWORD" -f ...
-- The value never appears in a rendered file or in RisingWave's stored definitions.
CREATE SECRET cold_chain_nats_password WITH (backend = 'meta') AS :'cold_chain_nats_password';
