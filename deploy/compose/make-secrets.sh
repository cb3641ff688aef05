#!/bin/sh
# Makes the secrets deploy/compose.yaml reads, once, in deploy/secrets/ (git-ignored):
# random passwords for the database superuser, the mda database role and the mda broker
# account, the URLs the mda processes use (which carry those passwords), the key that signs
# session cookies (shared by the web replicas) and the Ed25519 key that signs incident
# extracts (`mda keys show` prints its public half; partners verify with it). Existing
# files are kept: run it again after deleting one to make that one anew (a new signing key
# means partners need the new public key).
#
# The directory is 0700 (only its owner on the host gets in); the files are 0444 so that
# the containers' own users (postgres, mosquitto, mda) can read their bind-mounted copy.
set -eu
cd "$(dirname "$0")/.."
umask 077
mkdir -p secrets
chmod 0700 secrets

rand() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

mk() {  # mk NAME COMMAND...: write secrets/NAME from COMMAND's output, if absent
  name=$1; shift
  if [ -s "secrets/$name" ]; then
    echo "secrets/$name: kept"
    return 0
  fi
  "$@" >"secrets/$name.tmp"
  mv "secrets/$name.tmp" "secrets/$name"
  chmod 0444 "secrets/$name"
  echo "secrets/$name: made"
}

mk db_password rand
mk mda_db_password rand
mk mqtt_password rand
mk mda_secret_key rand
mk mda_database_url sh -c 'printf "postgresql://mda:%s@db:5432/mda\n" "$(cat secrets/mda_db_password)"'
mk mda_mqtt_url sh -c 'printf "mqtt://mda:%s@broker:1883\n" "$(cat secrets/mqtt_password)"'
if command -v openssl >/dev/null; then
  mk extract-signing-key.pem openssl genpkey -algorithm ed25519
else
  echo "openssl not found: install it, or copy an existing installation's" \
    "extract-signing-key.pem into deploy/secrets/" >&2
  exit 1
fi
