#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs one libFuzzer target for a bounded time from its checked-in seeds and
# prints how many inputs it executed. New corpus entries and crash
# reproducers go to WORKDIR (in the build tree), never into the sources.
#   run-fuzz.sh FUZZER NAME SEEDS WORKDIR SECONDS [libFuzzer options…]
set -eu
bin=$1 name=$2 seeds=$3 work=$4 secs=$5
shift 5
rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
log=$work/fuzz.log
rc=0
"$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$@" "$work/corpus" "$seeds" >"$log" 2>&1 || rc=$?
# The start, the end and any report, not every "NEW" line.
head -n 12 "$log"
echo "..."
tail -n 40 "$log"
runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
echo "# figure: $name: ${runs:-unknown} executions in ${secs}s (exit status $rc)"
if [ "$rc" -ne 0 ]; then
  echo "$name: the fuzzer found a problem; reproducer(s) in $work/artifacts/:" >&2
  ls -l "$work/artifacts/" >&2
fi
exit "$rc"
