#!/usr/bin/env bash
# The IR optimization rule, timed: tests/programs/compute.c compiled by
# clang-19 -O0 to bitcode, run by `hyperjit run -O 0` (not optimized) and
# `-O 2` (optimized by the rule), beside the native clang-19 -O0 and -O2
# builds, in this one run; and the IR a front end emits (clang -O0 -Xclang
# -disable-O0-optnone: allocas, no optnone), which IrOptimization::Auto
# must take as unoptimized, eager and in the CLI's default (tiered) mode.
# Prints the median of N wall times of each and the ratios. (The tests show *that* the rule optimizes, by the IR; this shows
# what it is worth on this machine.)
#
#   bash bench/opt_rule.sh [RUNS]      (default 5 runs of each)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
work=${BENCH_DIR:-target/bench-opt-rule}
mkdir -p "$work"

cargo build --release -q -p hyperjit-cli
hyperjit=target/release/hyperjit
clang-19 -O0 -c -emit-llvm -o "$work/compute.O0.bc" tests/programs/compute.c
clang-19 -O0 -Xclang -disable-O0-optnone -c -emit-llvm -o "$work/compute.frontend.bc" \
  tests/programs/compute.c
clang-19 -O0 -o "$work/native-O0" tests/programs/compute.c
clang-19 -O2 -o "$work/native-O2" tests/programs/compute.c
"$work/native-O2" > "$work/expected.out"

. bench/common.sh

o0=$(median_of "$hyperjit" run -O 0 "$work/compute.O0.bc")
o2=$(median_of "$hyperjit" run -O 2 "$work/compute.O0.bc")
fe_eager=$(median_of "$hyperjit" run --eager -O 2 "$work/compute.frontend.bc")
fe_default=$(median_of "$hyperjit" run -O 2 "$work/compute.frontend.bc")
n0=$(median_of "$work/native-O0")
n2=$(median_of "$work/native-O2")

echo "compute.c as clang -O0 bitcode, median of $runs (s)"
printf '%-34s %8.3f\n' "hyperjit run -O 0" "$o0" "hyperjit run -O 2" "$o2" \
  "hyperjit run --eager, front-end IR" "$fe_eager" "hyperjit run, front-end IR" "$fe_default" \
  "native clang-19 -O0" "$n0" "native clang-19 -O2" "$n2"
awk -v a="$o0" -v b="$o2" -v c="$n0" -v d="$n2" -v e="$fe_eager" -v f="$fe_default" 'BEGIN {
  printf "hyperjit -O 0 / -O 2        %8.2f\n", a / b
  printf "native -O0 / -O2            %8.2f\n", c / d
  printf "hyperjit -O 2 / native -O2  %8.2f\n", b / d
  printf "front-end IR, eager / native -O2    %8.2f\n", e / d
  printf "front-end IR, default / native -O2  %8.2f\n", f / d
}'
