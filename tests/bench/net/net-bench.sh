#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# virtio-net loopback throughput: vu-sidecar against DPDK's own vhost backend,
# with the same frontend (dpdk-testpmd, virtio_user port, io forwarding,
# --tx-first) and the same pinning (backend on cpu 0, frontend on cpu 1).
# For 64- and 1500-byte frames, 1 and 2 queue pairs, and our busy and
# adaptive polling modes, the two backends alternate over ROUNDS rounds; the
# median Mpps (frames the frontend received per second) and the ratio
# vu-sidecar/DPDK are printed, for split and for packed rings (virtio_user
# packed_vq=1), then our packed/split ratio. Then each backend's CPU use while
# a frontend is attached but sends nothing. Prints figures; never fails for
# being slow.
#
# Usage: net-bench.sh [--rounds N] [--seconds S] [--quick] [--rings split|packed|both]
# Environment: VU_SIDECAR (path of vu-sidecar), BUILD_DIR, SRC_DIR (set by ctest).
set -uo pipefail

rounds=3
seconds=4
sizes=(64 1500)
queue_counts=(1 2)
modes=(busy adaptive)
rings=(split packed)
while (($#)); do
        case $1 in
        --rounds) rounds=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --quick) rounds=1; seconds=2; sizes=(64); queue_counts=(1) ;;
        --rings) [[ $2 == both ]] && rings=(split packed) || rings=("$2"); shift ;;
        -h | --help) sed -n '3,17p' "$0"; exit 0 ;;
        *) echo "net-bench: unknown option $1" >&2; exit 2 ;;
        esac
        shift
done

here=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=${SRC_DIR:-$(cd "$here/../../.." && pwd)}
# shellcheck source=../../integration/lib/vutest.bash
source "$SRC_DIR/tests/integration/lib/vutest.bash"
# shellcheck source=../../integration/lib/vunet.bash
source "$SRC_DIR/tests/integration/lib/vunet.bash"
VU_SIDECAR=${VU_SIDECAR:-$VT_BUILD_DIR/sidecar/vu-sidecar}

why=$(vn_dpdk_missing)
if [[ -n $why ]]; then
        echo "net-bench: skipped: $why"
        exit 0
fi
if [[ ! -x $VU_SIDECAR ]]; then
        echo "net-bench: skipped: no vu-sidecar at $VU_SIDECAR (set VU_SIDECAR)"
        exit 0
fi
if (($(nproc) < 2)); then
        echo "net-bench: skipped: needs 2 cpus to pin backend and frontend apart"
        exit 0
fi
vn_hugepages || exit 0
VT_TMP=$(mktemp -d /tmp/vunet-bench.XXXXXX)
VT_PIDS=()
trap 'vt_cleanup' EXIT
sock=$VT_TMP/net.sock

# start_backend KIND QUEUES [MODE] — DPDK's vhost PMD in an io-forwarding testpmd (its
# loopback), or vu-sidecar's loopback with polling MODE; on cpu 0. Pid in backend_pid.
start_backend() {
        local kind=$1 queues=$2 mode=${3:-}
        rm -f "$sock"
        if [[ $kind == dpdk ]]; then
                vt_spawn backend "$VN_TESTPMD" --lcores '0@0,1@0' --no-pci --file-prefix "vnb$$-be" -m 256 \
                        --vdev "net_vhost0,iface=$sock,queues=$queues" -- --forward-mode=io --auto-start \
                        --stats-period 100 --rxq="$queues" --txq="$queues" --nb-cores=1 --total-num-mbufs=32768
        else
                vt_spawn backend taskset -c 0 "$VU_SIDECAR" --net "socket=$sock,queues=$queues,poll=$mode" \
                        --control none --runtime-dir "$VT_TMP" --log-level warning
        fi
        backend_pid=$VT_LAST_PID
        vt_wait_socket "$sock" "$backend_pid" 30
}

stop_backend() {
        kill -INT "$backend_pid" 2>/dev/null
        for ((i = 0; i < 50; i++)); do
                kill -0 "$backend_pid" 2>/dev/null || break
                sleep 0.1
        done
        kill -KILL "$backend_pid" 2>/dev/null
        wait "$backend_pid" 2>/dev/null
        rm -f "$sock"
}

# measure QUEUES SIZE RING — the frontend forwards for $seconds after a 2 s warm-up; prints Mpps.
measure() {
        local queues=$1 size=$2 ring=$3 a b packed=()
        [[ $ring == packed ]] && packed=(--packed)
        vn_testpmd "$sock" "$queues" --lcores '0@1,1@1' "${packed[@]}" -- "set fwd io" "set txpkts $size" "start tx_first" \
                "sleep 2" "show port stats 0" "sleep $seconds" "show port stats 0" "stop" >/dev/null 2>&1
        read -r a b < <(awk '/RX-packets:.*RX-bytes:/ {v[n++] = $2} END {print v[0] + 0, v[1] + 0}' "$VN_LOG")
        awk -v a="$a" -v b="$b" -v s="$seconds" 'BEGIN {printf "%.3f\n", (b - a) / s / 1e6}'
}

median() {
        printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

echo "net-bench: $rounds round(s) of ${seconds}s per point; backend on cpu 0, testpmd frontend on cpu 1"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-6s %-6s %-9s %-6s %10s %10s %8s   %s\n' size queues mode ring "dpdk_Mpps" "ours_Mpps" ratio "rounds (dpdk/ours)"
declare -A ours_by
for ring in "${rings[@]}"; do
for size in "${sizes[@]}"; do
        for queues in "${queue_counts[@]}"; do
                for mode in "${modes[@]}"; do
                        dpdk=()
                        ours=()
                        detail=
                        for ((r = 1; r <= rounds; r++)); do
                                # Alternate who goes first, so drift in the machine's load hits both.
                                for kind in $( ((r % 2)) && echo "dpdk ours" || echo "ours dpdk"); do
                                        start_backend "$kind" "$queues" "$mode" || { echo "backend $kind failed"; continue; }
                                        v=$(measure "$queues" "$size" "$ring")
                                        stop_backend
                                        if [[ $kind == dpdk ]]; then dpdk+=("$v"); else ours+=("$v"); fi
                                done
                                detail+=" ${dpdk[-1]:-?}/${ours[-1]:-?}"
                        done
                        md=$(median "${dpdk[@]}")
                        mo=$(median "${ours[@]}")
                        ratio=$(awk -v a="$mo" -v b="$md" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')
                        printf '%-6s %-6s %-9s %-6s %10s %10s %8s  %s\n' "$size" "$queues" "$mode" "$ring" "$md" "$mo" "$ratio" "$detail"
                        ours_by[$ring/$size/$queues/$mode]=$mo
                done
        done
done
done
if ((${#rings[@]} == 2)); then
        echo
        echo "vu-sidecar, packed rings against split (Mpps, median):"
        for size in "${sizes[@]}"; do
                for queues in "${queue_counts[@]}"; do
                        for mode in "${modes[@]}"; do
                                s=${ours_by[split/$size/$queues/$mode]:-0} p=${ours_by[packed/$size/$queues/$mode]:-0}
                                printf '  size %-5s queues %s %-9s split %8s packed %8s  packed/split %s\n' "$size" "$queues" \
                                        "$mode" "$s" "$p" "$(awk -v a="$p" -v b="$s" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "n/a"}')"
                        done
                done
        done
fi

# Idle CPU: a frontend attached, no traffic, 5 s.
idle_cpu() {
        local t0 t1 hz
        hz=$(getconf CLK_TCK)
        {
                sleep 2
                t0=$(vn_cpu_ticks "$backend_pid")
                sleep 5
                t1=$(vn_cpu_ticks "$backend_pid")
                awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {printf "%.1f\n", d * 100 / (5 * hz)}' >"$VT_TMP/idle"
        } &
        vn_testpmd "$sock" 1 --lcores '0@1,1@1' -- "sleep 8" >/dev/null 2>&1
        wait
        cat "$VT_TMP/idle"
}
echo
echo "idle CPU with a frontend attached and no traffic (% of one core, 5 s):"
start_backend dpdk 1
echo "  dpdk vhost (testpmd io)   $(idle_cpu)"
stop_backend
for mode in off adaptive busy; do
        start_backend ours 1 "$mode"
        printf '  vu-sidecar poll=%-9s %s\n' "$mode" "$(idle_cpu)"
        stop_backend
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit 0
