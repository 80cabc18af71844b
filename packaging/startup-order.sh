#!/usr/bin/env bash
# Writes cli/startup.order: the functions of the installed `me2b` binary that a daemon runs to
# start, answer its owner and idle, one symbol per line. cli/build.rs hands the list to the
# linker (`--symbol-ordering-file`), which lays these functions out together at the start of
# the code; the rest of the code follows in its usual order.
#
# Why: a process's resident memory counts every page of its binary's code it has mapped, and
# the kernel maps a whole block of the file around each page the process touches (64 KiB, or
# the page cache's larger folio). Start-up touches a little code in hundreds of places across
# the binary's 18 MB of code, so an idle daemon held most of it. Gathered, it holds what it ran.
#
#   cargo build --profile dist -p me2b-cli && packaging/startup-order.sh
#
# Needs valgrind (Debian's `valgrind`). The symbols' names carry hashes that stay the same
# while the code changes, but not across a new rustc or new versions of the dependencies: run
# this again after either (a stale list costs memory, never correctness: a function it names
# that no longer exists is skipped, one it misses is laid out with the rest).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/dist/me2b}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# One daemon of each role: init, start under callgrind, one read through the API, a few
# seconds of idling (ticks, timers), a graceful stop.
for role in person business; do
  node="$work/$role"
  "$bin" --data-dir "$node" init --role "$role" --name Startup --no-passphrase >/dev/null
  ME2B_LOG=info valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$role.callgrind" \
    "$bin" --data-dir "$node" daemon --no-mdns --listen /ip4/127.0.0.1/tcp/0 --api 127.0.0.1:0 \
    >"$work/$role.out" 2>"$work/$role.err" &
  daemon=$!
  for _ in $(seq 1 1200); do
    grep -q "me2b daemon ready" "$work/$role.out" && break
    kill -0 "$daemon" 2>/dev/null || { cat "$work/$role.err" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "me2b daemon ready" "$work/$role.out" || { kill "$daemon"; echo "the $role daemon did not start" >&2; exit 1; }
  "$bin" --data-dir "$node" status >/dev/null
  sleep 3
  kill -TERM "$daemon"
  wait "$daemon" || true
done

# Every function callgrind saw run (`fn=` and `cfn=` name it the first time; `'2` marks a
# recursion level), kept if the binary defines it, in name order (which keeps a crate's
# functions together).
sed -n "s/^c\?fn=([0-9]*) \(.*\)$/\1/p" "$work"/*.callgrind | sed "s/'[0-9]*$//" | LC_ALL=C sort -u >"$work/ran"
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | LC_ALL=C sort -u >"$work/defined"
LC_ALL=C comm -12 "$work/ran" "$work/defined" >cli/startup.order
echo "cli/startup.order: $(wc -l <cli/startup.order) functions"
