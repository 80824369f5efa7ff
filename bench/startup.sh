#!/usr/bin/env bash
# Start-up and steady state in every compilation mode. Each program, as one
# -O2 bitcode file, runs end to end under `hyperjit run` in each mode, under
# `lli-19 -O2`, and as a native binary built by clang-19 -O2 from the same
# bitcode; the median of N wall times, the ratios, and each runner's peak
# memory (GNU time), all measured in this one run; last, the default mode
# with a warm object cache (--cache): filled by a default run, and holding
# the program image a --eager --cache run left. The programs:
#   sqlite    the sqlite3 amalgamation (libsqlite3-sys) + tests/programs/sqlite_driver.c
#   lua       Lua 5.4 (lua-src) + tests/programs/lua_driver.c running tests/programs/bench.lua
#   bzip2     bzip2 1.0.8 (bzip2-sys) compressing its sample files, 4 MB in all
#   fannkuch, nbody, spectral_norm, sieve   compute programs in tests/programs
#   hello     tests/programs/hello.c: start-up alone (at least 11 runs)
#
#   bash bench/startup.sh [RUNS] [PROGRAM...]   (default 3 runs, every program)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
programs=${*:-sqlite lua bzip2 fannkuch nbody spectral_norm sieve hello}
work=${BENCH_DIR:-target/bench-startup}
mkdir -p "$work"

cargo build --release -q -p hyperjit-cli
hyperjit=target/release/hyperjit
. bench/common.sh

package_dir() {
  cargo metadata --format-version 1 --locked --manifest-path tests/corpus/Cargo.toml |
    grep -o "\"manifest_path\":\"[^\"]*$1-[0-9][^\"]*Cargo.toml\"" | head -n 1 | cut -d'"' -f4 | xargs dirname
}

# build NAME: $work/NAME.bc and $work/NAME-native.
build() {
  local name=$1 objects=()
  case $name in
    sqlite)
      local sqlite
      sqlite=$(package_dir libsqlite3-sys)/sqlite3
      [ -f "$work/sqlite3.bc" ] || clang-19 -O2 -c -emit-llvm -o "$work/sqlite3.bc" "$sqlite/sqlite3.c"
      clang-19 -O2 -c -emit-llvm -I "$sqlite" -o "$work/driver.bc" tests/programs/sqlite_driver.c
      llvm-link-19 -o "$work/sqlite.bc" "$work/sqlite3.bc" "$work/driver.bc" ;;
    lua)
      local lua
      lua=$(package_dir lua-src)/lua-5.4.7
      mkdir -p "$work/lua"
      for source in "$lua"/*.c tests/programs/lua_driver.c; do
        objects+=("$work/lua/$(basename "$source" .c).bc")
        clang-19 -O2 -DLUA_USE_POSIX -I "$lua" -c -emit-llvm -o "${objects[-1]}" "$source"
      done
      llvm-link-19 -o "$work/lua.bc" "${objects[@]}" ;;
    bzip2)
      local bzip2
      bzip2=$(package_dir bzip2-sys)/bzip2-1.0.8
      mkdir -p "$work/bzip2"
      for source in bzip2 blocksort huffman crctable randtable compress decompress bzlib; do
        objects+=("$work/bzip2/$source.bc")
        clang-19 -O2 -D_FILE_OFFSET_BITS=64 -c -emit-llvm -o "${objects[-1]}" "$bzip2/$source.c"
      done
      llvm-link-19 -o "$work/bzip2.bc" "${objects[@]}"
      : > "$work/bzip2.in"
      while [ "$(stat -c %s "$work/bzip2.in")" -lt 4000000 ]; do
        cat "$bzip2"/sample*.ref >> "$work/bzip2.in"
      done ;;
    *)
      clang-19 -O2 -c -emit-llvm -o "$work/$name.bc" "tests/programs/$name.c" ;;
  esac
  clang-19 -O2 -o "$work/$name-native" "$work/$name.bc" -lm
}

peak_mb() { /usr/bin/time -f %M "$@" < "${stdin:-/dev/null}" 2>&1 >/dev/null | tail -n 1 | awk '{printf "%.0f", $1 / 1024}'; }
[ -x /usr/bin/time ] || peak_mb() { echo "-"; }

# bench NAME ARGS...: one table, every runner.
bench() {
  local name=$1 bitcode=$work/$1.bc
  shift
  # Start-up alone is milliseconds, where the scheduler's jitter is too:
  # more runs.
  local runs=$runs
  [ "$name" = hello ] && [ "$runs" -lt 11 ] && runs=11
  build "$name"
  stdin=/dev/null
  [ "$name" = bzip2 ] && stdin=$work/bzip2.in
  "$work/$name-native" "$@" < "$stdin" > "$work/expected.out"
  local lli native
  lli=$(median_of lli-19 -O2 "$bitcode" "$@")
  native=$(median_of "$work/$name-native" "$@")
  echo "$name $*: median of $runs wall times (s), peak memory (MB)"
  printf '%-24s %8s %7s %9s %9s\n' runner time memory "/ lli-19" "/ native"
  for mode in "--eager" "--lazy" "--lazy -O 0" "--tier" "(default)"; do
    local flags=$mode ours mem
    [ "$mode" = "(default)" ] && flags=""
    # shellcheck disable=SC2086 # $flags: flags or none, split on purpose
    ours=$(median_of "$hyperjit" run $flags "$bitcode" -- "$@")
    # shellcheck disable=SC2086
    mem=$(peak_mb "$hyperjit" run $flags "$bitcode" -- "$@")
    awk -v m="hyperjit $mode" -v o="$ours" -v mem="$mem" -v l="$lli" -v n="$native" \
      'BEGIN { printf "%-24s %8.3f %7s %9.3f %9.3f\n", m, o, mem, o / l, o / n }'
  done
  # Warm object caches: the default mode's (filled by one default run
  # first), and a program image (left by one --eager --cache run), which
  # the default mode loads.
  local cache ours mem warm
  for warm in default image; do
    cache=$work/cache-$name-$warm
    rm -rf "$cache"
    if [ "$warm" = image ]; then
      "$hyperjit" run --eager --cache "$cache" "$bitcode" -- "$@" < "$stdin" > /dev/null
    else
      "$hyperjit" run --cache "$cache" "$bitcode" -- "$@" < "$stdin" > /dev/null
    fi
    sync # the entries just written: their writeback is not the warm run's
    ours=$(median_of "$hyperjit" run --cache "$cache" "$bitcode" -- "$@")
    mem=$(peak_mb "$hyperjit" run --cache "$cache" "$bitcode" -- "$@")
    awk -v m="hyperjit --cache ($warm)" -v o="$ours" -v mem="$mem" -v l="$lli" -v n="$native" \
      'BEGIN { printf "%-24s %8.3f %7s %9.3f %9.3f\n", m, o, mem, o / l, o / n }'
  done
  awk -v l="$lli" -v mem="$(peak_mb lli-19 -O2 "$bitcode" "$@")" -v n="$native" \
    'BEGIN { printf "%-24s %8.3f %7s %9.3f %9.3f\n", "lli-19 -O2", l, mem, 1, l / n }'
  awk -v n="$native" -v mem="$(peak_mb "$work/$name-native" "$@")" -v l="$lli" \
    'BEGIN { printf "%-24s %8.3f %7s %9.3f %9.3f\n", "native (clang-19 -O2)", n, mem, n / l, 1 }'
  echo
}

for program in $programs; do
  case $program in
    sqlite) bench sqlite ;;
    lua) bench lua tests/programs/bench.lua 3 ;;
    bzip2) bench bzip2 -9 ;;
    fannkuch) bench fannkuch 11 ;;
    nbody) bench nbody 30000000 ;;
    spectral_norm) bench spectral_norm 5500 ;;
    sieve) bench sieve 170000 ;;
    hello) bench hello ;;
    *) echo "unknown program: $program" >&2; exit 2 ;;
  esac
done
