# Sourced by the bench scripts. Needs $runs, and $work holding expected.out.

# wall_times CMD...: $runs wall times of CMD in seconds, one a line; its
# output must match $work/expected.out. Its stdin is $stdin (default
# /dev/null).
wall_times() {
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" < "${stdin:-/dev/null}" > "$work/actual.out"
    end=$(date +%s.%N)
    cmp -s "$work/expected.out" "$work/actual.out" || { echo "output differs: $*" >&2; exit 1; }
    echo "$start $end" | awk '{print $2 - $1}'
  done
}

# best_of CMD...: the fastest of $runs wall times.
best_of() { wall_times "$@" | sort -g | head -n 1; }

# median_of CMD...: the median of $runs wall times.
median_of() { wall_times "$@" | sort -g | awk '{t[NR] = $1} END {print t[int((NR + 1) / 2)]}'; }
