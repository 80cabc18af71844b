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
#   cargo build --profile dist -p me2b-cli && packaging/startup-order.sh [--add] [BINARY]
#
# With --add, the functions already listed that the binary still defines are kept: run it on
# a binary linked with the list to add what that run newly saw (a function whose run depends
# on timing or on the input's length shows in one run and not in another). When start-up
# comes to run less, run it once without --add (which also drops the few functions only perf
# finds: on a binary linked with the list they fault no more), relink, and run it with --add.
#
# Needs valgrind (Debian's `valgrind`); perf (Debian's `linux-perf`) if there is one. Most
# names hold while the code changes, but not those of generic functions instantiated by
# changed code or of functions LTO renamed (`name.12345`), and none across a new rustc or new
# versions of the dependencies: run this again (`--add` on a binary linked with the old list)
# after a change to what a daemon runs at start. A stale list costs memory, never
# correctness: a function it names that no longer exists is skipped, one it misses is laid
# out with the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
add=false
if [ "${1:-}" = --add ]; then
  add=true
  shift
fi
bin=${1:-target/dist/me2b}
command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs a daemon of the data directory $1 under the command that follows (callgrind, perf), at
# the daemon's default log level, through its ready line, its owner's reads through the API
# (a few, as text and JSON: some code runs only at the second or third), a few seconds of
# idling (ticks, timers) and a graceful stop; $run names its files.
run_daemon() {
  local node=$1
  shift
  env -u ME2B_LOG "$@" "$bin" --data-dir "$node" daemon --no-mdns --listen /ip4/127.0.0.1/tcp/0 \
    --api 127.0.0.1:0 >"$run.out" 2>"$run.err" &
  local tool=$!
  for _ in $(seq 1 1200); do
    grep -q "me2b daemon ready" "$run.out" && break
    kill -0 "$tool" 2>/dev/null || { cat "$run.err" >&2; exit 1; }
    sleep 0.1
  done
  grep -q "me2b daemon ready" "$run.out" || { kill "$tool"; echo "$run: no ready line" >&2; exit 1; }
  for read in status "status --json" id status "status --json"; do
    # shellcheck disable=SC2086 # $read is the command and its flags
    "$bin" --data-dir "$node" $read >/dev/null
  done
  sleep 3
  # The daemon itself (perf runs it as its child; valgrind runs it in its own process).
  pkill -TERM -P "$tool" 2>/dev/null || kill -TERM "$tool"
  wait "$tool" || true
}

# One daemon of each role, started twice (a first start, then a restart over what the first
# wrote), under callgrind: every function it saw run (`fn=` and `cfn=` name it the first time;
# `'2` marks a recursion level).
for role in person business; do
  node="$work/$role"
  "$bin" --data-dir "$node" init --role "$role" --name Startup --no-passphrase >/dev/null
  for start in first restart; do
    run="$work/$role-$start"
    run_daemon "$node" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$run.callgrind"
    sed -n "s/^c\?fn=([0-9]*) \(.*\)$/\1/p" "$run.callgrind" | sed "s/'[0-9]*$//" >>"$work/ran"
  done
  # valgrind's CPU lacks AVX-512 and SHA extensions, so where a crate picks its code by the
  # CPU's features (crc32fast, sha2) callgrind saw another function run than the machine
  # runs. With perf (Debian's `linux-perf`), a native run adds the function of each page
  # fault in the binary's code: run on a binary linked with the list, these are the ones it
  # missed.
  if command -v perf >/dev/null; then
    run="$work/$role-native"
    run_daemon "$node" perf record -q -e page-faults -c 1 -d -o "$run.perf" --
    # Columns: the faulting address, its symbol, the instruction pointer, its function.
    perf script --no-demangle -F addr,ip,sym -i "$run.perf" 2>/dev/null |
      awk '$1 == $3 { print $4 }' >>"$work/ran"
  fi
done

# Kept if the binary defines it, in name order (which keeps a crate's functions together).
if $add && [ -f cli/startup.order ]; then
  cat cli/startup.order >>"$work/ran"
fi
LC_ALL=C sort -u "$work/ran" >"$work/ran.sorted"
nm --defined-only "$bin" | awk '$2 ~ /^[tTwW]$/ { print $3 }' | LC_ALL=C sort -u >"$work/defined"
LC_ALL=C comm -12 "$work/ran.sorted" "$work/defined" >cli/startup.order
echo "cli/startup.order: $(wc -l <cli/startup.order) functions"
