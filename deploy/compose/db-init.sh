#!/bin/bash
# Run once by the timescaledb-ha image on an empty data volume
# (/docker-entrypoint-initdb.d/): the `mda` role, with its password from the
# mda_db_password secret, and its database with the timescaledb extension. The
# migrations (`mda db upgrade`, the compose file's `migrate` service) create the tables.
set -euo pipefail
unset PGHOST PGHOSTADDR  # the first-run server listens on its Unix socket only
password=$(cat /run/secrets/mda_db_password)
psql -v ON_ERROR_STOP=1 -X --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  --set pw="$password" <<'SQL'
CREATE ROLE mda LOGIN PASSWORD :'pw';
CREATE DATABASE mda OWNER mda;
SQL
psql -v ON_ERROR_STOP=1 -X --username "${POSTGRES_USER:-postgres}" --dbname mda \
  -c 'CREATE EXTENSION IF NOT EXISTS timescaledb'
