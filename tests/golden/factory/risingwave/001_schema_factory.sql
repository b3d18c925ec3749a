-- Schema of pipeline factory; every object below lives in it.
CREATE SCHEMA IF NOT EXISTS factory;
