#!/usr/bin/env bash
# The two seed stories with the sample files of examples/, on four local daemons:
#   1. a runner imports a year of runs (CSV) and two GPX runs in their Pegasus 41; a shop's
#      trigger "tell me when this pair passes 700 km" fires once, and the shop may push one offer;
#   2. a person imports their FHIR records; a study asks "HbA1c above 6.5 % in the last 12
#      months?" and "aged 40 to 64?" and learns yes/no, never the records.
#
#   bash examples/stories.sh [ME2B_BINARY]     (default: target/release/me2b, built if missing)
#
# Everything runs on 127.0.0.71-74 with ports picked by the system, in a temporary folder
# that is removed at the end; the daemons stop with the script.
set -euo pipefail
cd "$(dirname "$0")/.."
me2b=${1:-target/release/me2b}
[ -x "$me2b" ] || cargo build --release --quiet -p me2b-cli --bin me2b
root=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT

# start NAME ROLE DISPLAY_NAME IP [BOOTSTRAP]: a daemon; prints its address with its peer id.
start() {
  local dir=$root/$1
  "$me2b" --data-dir "$dir" init --role "$2" --name "$3" --no-passphrase >/dev/null
  "$me2b" --data-dir "$dir" daemon --listen "/ip4/$4/tcp/0" --api "$4:0" --no-mdns \
    ${5:+--bootstrap "$5"} >"$dir.out" 2>"$dir.log" &
  pids+=($!)
  until grep -q "ready" "$dir.out" 2>/dev/null; do sleep 0.1; done
  "$me2b" --data-dir "$dir" events >"$dir.events" 2>/dev/null &
  pids+=($!)
  local peer listen
  peer=$(grep -o 'peer [^ ]*' "$dir.out" | head -1 | cut -d' ' -f2)
  listen=$(grep -o 'listening on [^ ]*' "$dir.out" | head -1 | cut -d' ' -f3)
  echo "$listen/p2p/$peer"
}
# on NAME ARGS...: a CLI command against NAME's daemon.
on() { local name=$1; shift; "$me2b" --data-dir "$root/$name" "$@"; }
# until_json NAME PATTERN ARGS...: waits until the command's JSON output matches PATTERN.
until_json() {
  local name=$1 pattern=$2; shift 2
  for _ in $(seq 300); do
    on "$name" --json "$@" | grep -q -- "$pattern" && return 0
    sleep 0.1
  done
  echo "timed out waiting for $pattern in: me2b $*" >&2
  return 1
}
# subscribed NAME: waits until a person's subscription has reached NAME.
subscribed() {
  for _ in $(seq 300); do grep -q peer-subscribed "$root/$1.events" && return 0; sleep 0.1; done
  echo "timed out waiting for a subscriber at $1" >&2
  return 1
}
# first_id NAME ARGS...: the first "id" in the command's JSON output.
first_id() { on "$@" --json | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4; }

echo "== 1. the runner and the shoe shop"
shop=$(start shop business Stride 127.0.0.71)
start runner person Ada 127.0.0.72 "$shop" >/dev/null
on runner subscribe apparel.shoes >/dev/null
cat >"$root/runner-policy.toml" <<'EOF'
max_retention = "90d"
max_contact = "1/30d"

[[rules]]
path = "activity"
share = "raw"
purposes = ["personalised-offers"]
ask_owner = true
EOF
on runner policy set "$root/runner-policy.toml"
on runner data import examples/runner/runs.csv --time-column date --tag-column shoe \
  --map distance_km=activity.running.distance_km,minutes=activity.running.duration_min
subscribed shop
on shop campaign publish --category apparel.shoes --field activity.running.distance_km \
  --purpose personalised-offers --retention 90d --contact 1/30d \
  --use "trigger:activity.running.distance_km:sum tagged pegasus-41 >= 700:replacement-due" \
  --description "We tell you when your Pegasus 41 is worn out"
until_json runner '"id"' pending
on runner approve "$(first_id runner pending)"
until_json shop '"ACTIVE"' agreements
on runner data import examples/runner/easy.gpx
echo "   the shop holds (690.4 + 5.0 km: nothing yet):"
on shop received
on runner data import examples/runner/long.gpx
until_json shop 'replacement-due' received
echo "   the shop holds (the run that crosses 700 km):"
on shop received
on runner data import examples/runner/long.gpx
agreement=$(on shop --json agreements | grep -o '"id": "[^"]*"' | head -1 | cut -d'"' -f4)
on shop offer send --agreement "$agreement" --description "Pegasus 42, your size" --price "99 EUR"
on shop offer send --agreement "$agreement" --description "Another one" --price "99 EUR" 2>&1 \
  | sed 's/^/   second offer: /' || true
until_json runner '"Pegasus 42' offers
on runner offers

echo
echo "== 2. the health records and the study"
health=$root/health-files
# The study asks about the last 12 months: the sample records are made for today.
cargo run --quiet -p me2b-tests --bin me2b-examples -- --today "$(date +%F)" "$health"
study=$(start study business "Vienna Diabetes Study" 127.0.0.73)
start patient person Alex 127.0.0.74 "$study" >/dev/null
on patient subscribe health.research >/dev/null
cat >"$root/patient-policy.toml" <<'EOF'
max_retention = "365d"

[[rules]]
path = "health"
share = "derived-only"
purposes = ["research"]

[[rules]]
path = "profile"
share = "derived-only"
purposes = ["research"]
EOF
on patient policy set "$root/patient-policy.toml"
on patient data import "$health/health/bundle.json"
subscribed study
on study campaign publish --category health.research --purpose research --retention 365d \
  --field "health.lab.hba1c_percent:max in last 365d > 6.5" --field "profile.birthdate:age in 40..=64" \
  --description "Glycaemic control in people aged 40 to 64"
until_json patient '"id"' pending
on patient pending
on patient approve "$(first_id patient pending)"
until_json study '"holds"' received
echo "   the study holds:"
on study received
