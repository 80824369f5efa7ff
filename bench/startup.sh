#!/usr/bin/env bash
# Start-up benchmark, every compilation mode: the sqlite3 amalgamation (from
# the libsqlite3-sys crate) plus tests/programs/sqlite_driver.c as one -O2
# bitcode file, and tests/programs/fannkuch.c (a compute kernel in one long
# call), run end to end by `hyperjit run` in each mode, by `lli-19 -O2`, and
# as native binaries built by clang-19 -O2 from the same bitcode. Prints the
# median of N wall times and the ratios, and each runner's peak memory, all
# measured in this one run.
#
#   bash bench/startup.sh [RUNS]      (default 3 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
work=${BENCH_DIR:-target/bench-startup}
mkdir -p "$work"

cargo build --release -q -p hyperjit-cli
hyperjit=target/release/hyperjit

manifest=$(cargo metadata --format-version 1 --locked --manifest-path tests/corpus/Cargo.toml |
  grep -o '"manifest_path":"[^"]*libsqlite3-sys[^"]*Cargo.toml"' | head -n 1 | cut -d'"' -f4)
sqlite=$(dirname "$manifest")/sqlite3
[ -f "$work/sqlite3.bc" ] || clang-19 -O2 -c -emit-llvm -o "$work/sqlite3.bc" "$sqlite/sqlite3.c"
clang-19 -O2 -c -emit-llvm -I "$sqlite" -o "$work/driver.bc" tests/programs/sqlite_driver.c
llvm-link-19 -o "$work/sqlite.bc" "$work/sqlite3.bc" "$work/driver.bc"
clang-19 -O2 -o "$work/sqlite-native" "$work/sqlite.bc" -lm
clang-19 -O2 -c -emit-llvm -o "$work/fannkuch.bc" tests/programs/fannkuch.c
clang-19 -O2 -o "$work/fannkuch-native" "$work/fannkuch.bc"

. bench/common.sh
peak_mb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1 | awk '{printf "%.0f", $1 / 1024}'; }
[ -x /usr/bin/time ] || peak_mb() { echo "-"; }

# bench NAME BITCODE ARGS...: one table, every runner.
bench() {
  local name=$1 bitcode=$2
  shift 2
  "$work/$name-native" "$@" > "$work/expected.out"
  local lli native
  lli=$(median_of lli-19 -O2 "$bitcode" "$@")
  native=$(median_of "$work/$name-native" "$@")
  echo "$name: median of $runs wall times (s), peak memory (MB)"
  printf '%-26s %8s %8s %9s %9s\n' runner time memory "/ lli-19" "/ native"
  for mode in "--eager" "--lazy" "--lazy -O 0" "--tier" "(default)"; do
    local flags=$mode
    [ "$mode" = "(default)" ] && flags=""
    # shellcheck disable=SC2086 # $flags: flags or none, split on purpose
    local ours mem
    ours=$(median_of "$hyperjit" run $flags "$bitcode" -- "$@")
    # shellcheck disable=SC2086
    mem=$(peak_mb "$hyperjit" run $flags "$bitcode" -- "$@")
    awk -v m="hyperjit $mode" -v o="$ours" -v mem="$mem" -v l="$lli" -v n="$native" \
      'BEGIN { printf "%-26s %8.3f %8s %9.3f %9.3f\n", m, o, mem, o / l, o / n }'
  done
  awk -v l="$lli" -v mem="$(peak_mb lli-19 -O2 "$bitcode" "$@")" -v n="$native" \
    'BEGIN { printf "%-26s %8.3f %8s %9.3f %9.3f\n", "lli-19 -O2", l, mem, 1, l / n }'
  awk -v n="$native" -v mem="$(peak_mb "$work/$name-native" "$@")" -v l="$lli" \
    'BEGIN { printf "%-26s %8.3f %8s %9.3f %9.3f\n", "native (clang-19 -O2)", n, mem, n / l, 1 }'
}

bench sqlite "$work/sqlite.bc"
echo
bench fannkuch "$work/fannkuch.bc" 11
