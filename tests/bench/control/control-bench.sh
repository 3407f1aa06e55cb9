#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The control-socket benchmark: what calling the control socket costs while a
# real guest saturates the data path. QEMU (TCG, pinned to CPU 1) boots the
# test guest on a disk served by vu-sidecar (pinned to CPU 0); the guest
# program vutest-ctl keeps sequential 256 KiB O_DIRECT reads (or writes) in
# flight. Meanwhile, from CPU 0 (where a probe in the sidecar's container runs):
#   1. latency of GetStats called back to back (--calls, default 2000): p50/p90/p99/max;
#   2. data-path throughput over alternating windows without and with GetStats
#      polled at --rate calls/s (default 100), from the sidecar's own byte
#      counters; the polled windows' latencies are pooled too.
# Prints figures; never fails because something is slow (exit 1 only when the
# benchmark itself cannot run). Targets: p99 < 1 ms, throughput loss < 2 %.
#
# Usage: control-bench.sh [--windows N] [--window-secs S] [--calls N] [--rate HZ] [--dir r|w]
# Environment: VU_SIDECAR, BUILD_DIR (control-poll is BUILD_DIR/tests/bench/control/control-poll,
# or CONTROL_POLL), VT_GUEST_DIR, VT_KEEP=1 keeps the temp dir.
set -euo pipefail

windows=20 wsecs=4 calls=2000 rate=100 dir=r
while (($#)); do
        case $1 in
        --windows) windows=$2; shift ;;
        --window-secs) wsecs=$2; shift ;;
        --calls) calls=$2; shift ;;
        --rate) rate=$2; shift ;;
        --dir) dir=$2; shift ;;
        -h | --help) sed -n '3,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "control-bench: unknown option $1 (see --help)" >&2; exit 2 ;;
        esac
        shift
done

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../integration/lib/vutest.bash
source "$here/../../integration/lib/vutest.bash"
# shellcheck source=../../integration/control-lib.bash
source "$here/../../integration/control-lib.bash"
POLL=${CONTROL_POLL:-$VT_BUILD_DIR/tests/bench/control/control-poll}
if [[ -z ${VU_SIDECAR:-} || ! -x $POLL ]]; then
        echo "control-bench: needs VU_SIDECAR (is '${VU_SIDECAR:-}') and $POLL (build the control-poll target)" >&2
        exit 1
fi

vt_setup
trap vt_cleanup EXIT
img=$(vt_image 64)
ctl=$VT_TMP/control.sock
# Info, not debug: at debug the sidecar logs every control call, which is not what a
# production sidecar pays.
vt_start_sidecar "$VT_TMP/vu.sock" "path=$img" --taskset 0 --log-level info
guest_secs=$((windows * wsecs + 60))
qemu_boot_blk "$VT_TMP/vu.sock" --bg --taskset 1 --timeout $((guest_secs + 120)) \
        --args "vutest.prog=vutest-ctl vutest=write:32:1,seq:$guest_secs:$dir vuc.seq-mib=32"
vt_wait_console '^VUTEST: SEQ begin' 120
sleep 2 # past the first requests' warm-up

sample() {
        taskset -c 0 "$POLL" "$ctl" --sample
}

echo "control-bench: sidecar on CPU 0, QEMU (TCG) on CPU 1, callers on CPU 0; guest: sequential" \
        "256 KiB O_DIRECT $([[ $dir == r ]] && echo reads || echo writes) at depth 4"

# 1. Back to back.
echo "GetStats back to back, data path saturated: $(taskset -c 0 "$POLL" "$ctl" --count "$calls")"

# 2. Alternating windows; even windows are quiet, odd ones polled.
raw=$VT_TMP/latencies
: >"$raw"
quiet=() polled=()
for ((w = 0; w < windows; w++)); do
        read -r t0 b0 < <(sample)
        if ((w % 2)); then
                taskset -c 0 "$POLL" "$ctl" --rate "$rate" --secs "$wsecs" --raw "$raw" >/dev/null
        else
                sleep "$wsecs"
        fi
        read -r t1 b1 < <(sample)
        mbps=$(python3 -c "print(f'{($b1 - $b0) / (($t1 - $t0) / 1e6) / 1048576:.1f}')")
        if ((w % 2)); then polled+=("$mbps"); else quiet+=("$mbps"); fi
        echo "window $w ($( ((w % 2)) && echo "polled at $rate/s" || echo quiet)): $mbps MiB/s"
done
if ! vt_alive "$VT_QEMU_PID"; then
        echo "control-bench: the guest stopped before the windows ended; its console:" >&2
        tail -n 20 "$VT_CONSOLE" >&2
        exit 1
fi

python3 - "$raw" "$rate" "${quiet[*]}" "${polled[*]}" <<'EOF'
import math, statistics, sys
lat = sorted(float(l) for l in open(sys.argv[1]) if l.strip())
rate = sys.argv[2]
quiet = [float(x) for x in sys.argv[3].split()]
polled = [float(x) for x in sys.argv[4].split()]
def pct(p):
    return lat[max(0, math.ceil(p / 100 * len(lat)) - 1)] if lat else float('nan')
print(f'GetStats polled at {rate}/s, data path saturated: calls={len(lat)} p50_us={pct(50):.0f} '
      f'p90_us={pct(90):.0f} p99_us={pct(99):.0f} max_us={lat[-1] if lat else 0:.0f}')
q, p = statistics.median(quiet), statistics.median(polled)
print(f'throughput (median of windows): quiet {q:.1f} MiB/s, polled {p:.1f} MiB/s')
print(f'  window spread: quiet {min(quiet):.1f}..{max(quiet):.1f}, polled {min(polled):.1f}..{max(polled):.1f} MiB/s')
# Each polled window against the quiet windows either side of it: slow drifts of a shared
# machine cancel out; the median of those ratios is the figure.
ratios = [polled[i] / ((quiet[i] + quiet[i + 1]) / 2 if i + 1 < len(quiet) else quiet[i]) for i in range(len(polled))]
loss = (1 - statistics.median(ratios)) * 100
print(f'  polled/quiet per pair: {" ".join(f"{r:.3f}" for r in ratios)}; median change {-loss:+.2f} %')
# How finely this run can tell: the standard error of the pairs' mean ratio.
err = statistics.stdev(ratios) / math.sqrt(len(ratios)) * 100 if len(ratios) > 1 else float('inf')
if err > 2:
    verdict = f'not resolvable on this run (windows differ by ±{err:.1f} % standard error; use a quiet machine or more --windows)'
else:
    verdict = 'met' if loss < 2 else 'NOT met'
print(f'targets: p99 < 1000 us: {"met" if pct(99) < 1000 else "NOT met"}; loss < 2 %: {verdict}')
EOF
kill -TERM "$VT_QEMU_PID" 2>/dev/null || true
vt_stop_clean "$VT_SIDECAR_PID" sidecar || true
