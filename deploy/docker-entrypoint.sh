#!/bin/sh
# Entry point of the mda image: secrets come as files (Docker secrets in /run/secrets),
# never as values in the compose file or the image. For every MDA_<NAME>_FILE variable,
# MDA_<NAME> is set to that file's content (trailing newline removed), then the command
# runs: MDA_DATABASE_URL_FILE=/run/secrets/mda_database_url gives MDA_DATABASE_URL.
set -eu
for var in $(env | sed -n 's/^\(MDA_[A-Z0-9_]*\)_FILE=.*/\1/p'); do
  file=$(printenv "${var}_FILE")
  if [ ! -r "$file" ]; then
    echo "mda-entrypoint: error: ${var}_FILE names $file, which is missing or unreadable" >&2
    exit 2
  fi
  if [ -n "$(printenv "$var" || true)" ]; then
    echo "mda-entrypoint: error: both $var and ${var}_FILE are set; keep one" >&2
    exit 2
  fi
  value=$(cat "$file")
  export "$var=$value"
  unset "${var}_FILE"
done
exec "$@"
