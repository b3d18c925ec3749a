-- Schema of pipeline cold_chain; every object below lives in it.
CREATE SCHEMA IF NOT EXISTS cold_chain;
