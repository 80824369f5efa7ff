#!/usr/bin/env bash
# Start-up benchmark: the sqlite3 amalgamation (from the libsqlite3-sys crate)
# plus tests/programs/sqlite_driver.c, as one -O2 bitcode file, run end to end
# by `hyperjit run -O 2`, by `lli-19 -O2`, and as a native binary compiled by
# clang-19 -O2 from the same bitcode. Prints each best-of-N wall time and the
# ratios, measured in this one run.
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

"$work/sqlite-native" > "$work/expected.out"
. bench/common.sh

ours=$(best_of "$hyperjit" run -O 2 "$work/sqlite.bc")
lli=$(best_of lli-19 -O2 "$work/sqlite.bc")
native=$(best_of "$work/sqlite-native")

echo "sqlite start-up + workload, best of $runs (s)"
printf '%-22s %8.3f\n' "hyperjit run -O 2" "$ours" "lli-19 -O2" "$lli" "native (clang-19 -O2)" "$native"
awk -v o="$ours" -v l="$lli" -v n="$native" 'BEGIN {
  printf "hyperjit / lli-19     %8.3f  (target: <= 0.25)\n", o / l
  printf "hyperjit / native     %8.3f\n", o / n
}'

# Peak memory of one run each (GNU time's maximum resident set size).
if [ -x /usr/bin/time ]; then
  peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -n 1; }
  ours_kb=$(peak "$hyperjit" run -O 2 "$work/sqlite.bc")
  lli_kb=$(peak lli-19 -O2 "$work/sqlite.bc")
  echo "peak memory (MB)"
  awk -v o="$ours_kb" -v l="$lli_kb" 'BEGIN {
    printf "%-22s %8.0f\n%-22s %8.0f\nhyperjit / lli-19     %8.3f\n", "hyperjit run -O 2", o / 1024, "lli-19 -O2", l / 1024, o / l
  }'
else
  echo "peak memory: skipped (GNU time not installed: apt-get install time)"
fi
