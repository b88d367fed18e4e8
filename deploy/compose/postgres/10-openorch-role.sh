#!/bin/sh
# Runs once, when the postgres image initialises an empty data directory (docker-entrypoint-initdb.d).
# The orchestrator connects as an application role, not as the superuser: row-level security per
# workspace binds every role but superusers and BYPASSRLS roles (docs/operations.md, decision 0042).
set -eu
: "${OPENORCH_DB_PASSWORD:?set OPENORCH_DB_PASSWORD in deploy/compose/.env (see env.example)}"
role="${OPENORCH_DB_USER:-openorch}"
database="${OPENORCH_DB_NAME:-openorch}"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v role="$role" -v database="$database" -v password="$OPENORCH_DB_PASSWORD" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEROLE NOCREATEDB PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
SQL
