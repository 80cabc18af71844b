#!/bin/sh
# Initialises the data directory on first start (role and name from ME2B_ROLE and ME2B_NAME,
# passphrase from the file ME2B_PASSPHRASE_FILE, or none when ME2B_NO_PASSPHRASE=1), takes the
# API token from ME2B_API_TOKEN_FILE if set, then runs `me2b "$@"` (by default the daemon).
set -eu
data="${ME2B_DATA_DIR:-/data}"
if [ ! -f "$data/config.toml" ]; then
  : "${ME2B_ROLE:?set ME2B_ROLE to person or business for the first start}"
  : "${ME2B_NAME:?set ME2B_NAME for the first start}"
  if [ "${ME2B_NO_PASSPHRASE:-0}" = 1 ]; then
    me2b init --role "$ME2B_ROLE" --name "$ME2B_NAME" --no-passphrase
  else
    : "${ME2B_PASSPHRASE_FILE:?set ME2B_PASSPHRASE_FILE (a secret) or ME2B_NO_PASSPHRASE=1}"
    me2b init --role "$ME2B_ROLE" --name "$ME2B_NAME" --passphrase-file "$ME2B_PASSPHRASE_FILE"
  fi
fi
# A token shared by many nodes (a study's driver and Prometheus use one credential; see
# deploy/kubernetes): written over the one init made.
if [ -n "${ME2B_API_TOKEN_FILE:-}" ]; then
  umask 077
  tr -d ' \n' < "$ME2B_API_TOKEN_FILE" > "$data/api-token"
fi
if [ "${1:-}" = daemon ] && [ -n "${ME2B_PASSPHRASE_FILE:-}" ]; then
  shift
  exec me2b daemon --passphrase-file "$ME2B_PASSPHRASE_FILE" "$@"
fi
exec me2b "$@"
