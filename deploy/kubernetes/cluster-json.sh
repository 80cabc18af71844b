#!/usr/bin/env bash
# Writes cluster.json for `me2b-sim drive SCENARIO --cluster cluster.json` from a running me2b
# deployment: every running person and business pod's API (its pod address, port 6429) and
# the shared API token. The driver reads each daemon's libp2p address from its own API, and
# must run where pod addresses are reachable and the NetworkPolicy lets it in: a pod labelled
# app.kubernetes.io/component=driver in the same namespace.
#
#   deploy/kubernetes/cluster-json.sh me2b-study > cluster.json
set -euo pipefail
namespace=${1:-me2b-study}
token=$(kubectl -n "$namespace" get secret me2b-api-token -o jsonpath='{.data.token}' | base64 -d)
printf '{"links": "Kubernetes pod network of namespace %s", "nodes": [' "$namespace"
separator=""
for component in person business; do
  for ip in $(kubectl -n "$namespace" get pods -l "app.kubernetes.io/component=$component" \
      --field-selector=status.phase=Running -o jsonpath='{range .items[*]}{.status.podIP}{" "}{end}'); do
    printf '%s\n  {"role": "%s", "api": "http://%s:6429", "token": "%s"}' "$separator" "$component" "$ip" "$token"
    separator=","
  done
done
printf '\n]}\n'
