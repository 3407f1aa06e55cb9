# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers for the virtio-net tests and benchmark (tests/integration/net-*.bats,
# tests/bench/net/): hugepages for DPDK, a vu-sidecar serving one net device,
# dpdk-testpmd with a virtio_user port driven by a command script, its port
# counters, vuctl queries, and a process's CPU time. Sourced after vutest.bash
# (which provides vt_spawn, vt_wait_socket, VT_TMP and the cleanup).

VN_TESTPMD=${VN_TESTPMD:-dpdk-testpmd}
VN_RUNS=0

# Why the DPDK tests cannot run here, or nothing.
vn_dpdk_missing() {
        if ! command -v "$VN_TESTPMD" >/dev/null 2>&1; then
                echo "dpdk-testpmd is not installed (package dpdk-dev; scripts/setup-deps installs it)"
        elif [[ $(id -u) != 0 ]]; then
                echo "hugepages for DPDK need root (mount hugetlbfs, vm.nr_hugepages)"
        fi
}

# Mounts hugetlbfs on /dev/hugepages and reserves 2 MiB pages if fewer than 512 are free.
vn_hugepages() {
        local free
        mkdir -p /dev/hugepages
        mountpoint -q /dev/hugepages || mount -t hugetlbfs none /dev/hugepages
        free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
        if ((free < 512)); then
                echo $(($(cat /proc/sys/vm/nr_hugepages) + 1024)) >/proc/sys/vm/nr_hugepages
                free=$(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)
        fi
        if ((free < 256)); then
                echo "only $free free hugepages after asking for more" >&2
                return 1
        fi
}

# vn_start_sidecar SOCK SPEC [OPTION...] — vu-sidecar serving one net device (SPEC without
# socket=) on SOCK with its control socket at $VT_TMP/control.sock; pid in VT_SIDECAR_PID.
# --taskset CPUS first pins it.
vn_start_sidecar() {
        local sock=$1 spec=$2 pin=()
        shift 2
        if [[ ${1:-} == --taskset ]]; then
                pin=(taskset -c "$2")
                shift 2
        fi
        vt_spawn sidecar "${pin[@]}" "$VU_SIDECAR" --net "$spec${spec:+,}socket=$sock" \
                --control "$VT_TMP/control.sock" --runtime-dir "$VT_TMP" --log-level debug "$@"
        VT_SIDECAR_PID=$VT_LAST_PID
        vt_wait_socket "$sock" "$VT_LAST_PID"
}

# vn_testpmd SOCK QUEUES [--lcores SPEC] [--vhost] [--packed] [--no-in-order] [--args "ARGS"] -- CMD... —
# runs testpmd in interactive mode with a virtio_user port on SOCK (or, with --vhost, DPDK's own
# vhost backend listening on SOCK; --packed: virtio_user lays out packed rings, packed_vq=1;
# --no-in-order: virtio_user does not take VIRTIO_F_IN_ORDER, in_order=0;
# --args: more testpmd options, e.g. "--max-pkt-len=9100 --enable-scatter"),
# QUEUES queue pairs, feeding it the commands (a "sleep N"
# item sleeps instead). Output in VN_LOG; returns testpmd's status.
vn_testpmd() {
        local sock=$1 queues=$2 lcores=0@1,1@1 vdev packed= extra=()
        shift 2
        vdev="virtio_user0,path=$sock,queues=$queues"
        while (($#)); do
                case $1 in
                --lcores) lcores=$2; shift ;;
                --vhost) vdev="net_vhost0,iface=$sock,queues=$queues" ;;
                --packed) packed+=,packed_vq=1 ;;
                --no-in-order) packed+=,in_order=0 ;;
                --args) read -r -a extra <<<"$2"; shift ;;
                --) shift; break ;;
                *) echo "vn_testpmd: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        [[ $vdev == virtio_user* ]] && vdev+=$packed
        VN_RUNS=$((VN_RUNS + 1))
        VN_LOG=$VT_TMP/testpmd-$VN_RUNS.log
        local c rc=0
        {
                for c in "$@"; do
                        if [[ $c == sleep\ * ]]; then
                                ${c}
                        else
                                echo "$c"
                        fi
                done
                echo quit
        } | timeout --kill-after=5 120 "$VN_TESTPMD" --lcores "$lcores" --no-pci --file-prefix "vn$$-$VN_RUNS" \
                -m 256 --single-file-segments --vdev "$vdev" -- -i --rxq="$queues" --txq="$queues" \
                --total-num-mbufs=32768 "${extra[@]}" >"$VN_LOG" 2>&1 3>&- || rc=$?
        # A testpmd that timed out or was killed leaves its hugepage file (256 MiB) behind.
        rm -f /dev/hugepages/"vn$$-$VN_RUNS"map_*
        return "$rc"
}

# vn_io_loop SOCK [vn_testpmd options] — DPDK's io forwarding on one queue pair for 3 s: every
# frame that comes back is sent again, a loop that stops if one frame is lost for good or a used
# entry is out of order for a driver that took IN_ORDER. Checks it ran, the sidecar took every frame sent and gave back at
# least every frame received; sets rx_pkts rx_bytes tx_pkts tx_bytes and features (the
# negotiated features' names, read while testpmd is attached: they go with it).
vn_io_loop() {
        local sock=$1
        shift
        (sleep 2 && vn_vuctl -j status >"$VT_TMP/status.json") &
        local status_pid=$!
        vn_testpmd "$sock" 1 "$@" -- "set fwd io" "start tx_first" "sleep 3" "stop" "show port stats 0" || {
                tail -n 30 "$VN_LOG"
                return 1
        }
        wait "$status_pid"
        read -r rx_pkts rx_bytes tx_pkts tx_bytes < <(vn_port_stats)
        local g2b b2g
        g2b=$(vn_stat 'd["queues"][1]["net"]["packets"]')
        b2g=$(vn_stat 'd["queues"][0]["net"]["packets"]')
        echo "# figure: io loop ($*) over 3 s: testpmd tx $tx_pkts rx $rx_pkts; sidecar guest→backend $g2b, backend→guest $b2g" >&3
        ((rx_pkts > 10000))
        ((g2b == tx_pkts))
        ((b2g >= rx_pkts))
        [[ $(vn_stat 'sum(d["net"]["tx"]["drops"].values())') == 0 ]]
        features=$(python3 -c 'import json, sys
print(" ".join(json.load(open(sys.argv[1]))["devices"][0]["feature_names"]))' "$VT_TMP/status.json")
        echo "# negotiated: $features" >&3
}

# vn_port_stats — after a run whose script ended with "show port stats 0": prints
# "RX_PACKETS RX_BYTES TX_PACKETS TX_BYTES" from the last port statistics in VN_LOG.
vn_port_stats() {
        awk '/RX-packets:.*RX-bytes:/ {rp=$2; rb=$6} /TX-packets:.*TX-bytes:/ {tp=$2; tb=$6}
             END {print rp+0, rb+0, tp+0, tb+0}' "$VN_LOG"
}

# vn_vuctl ARGS... — vuctl against the test's sidecar.
vn_vuctl() {
        "$VUCTL" --socket "$VT_TMP/control.sock" "$@"
}

# vn_stat PYEXPR — evaluates a Python expression over `vuctl -j stats`'s first device (d).
vn_stat() {
        vn_vuctl -j stats | python3 -c 'import json, sys
d = json.load(sys.stdin)["devices"][0]
print(eval(sys.argv[1]))' "$1"
}

# vn_cpu_ticks PID — user+system clock ticks the process has used.
vn_cpu_ticks() {
        awk '{print $14 + $15}' "/proc/$1/stat"
}

# qemu_boot_net SOCK [--queues N] [--smp N] [--packed] [--args "..."] [--timeout S] — boots the test
# guest under TCG in the background with a virtio-net-pci device on a vhost-user netdev at
# SOCK (vectors=0: MSI-X hangs the probe under TCG). Pid in VT_QEMU_PID, console in
# VT_CONSOLE; wait with vt_wait_console / vt_wait_qemu (vutest.bash).
qemu_boot_net() {
        local sock=$1 queues=1 smp=1 mem=512M args= mq= packed=
        shift
        while (($#)); do
                case $1 in
                --queues) queues=$2; shift ;;
                --smp) smp=$2; shift ;;
                --args) args=$2; shift ;;
                --packed) packed=,packed=on ;;
                *) echo "qemu_boot_net: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        ((queues > 1)) && mq=",mq=on"
        VT_BOOTS=$((VT_BOOTS + 1))
        VT_CONSOLE=$VT_TMP/console-$VT_BOOTS.log
        : >"$VT_CONSOLE"
        "$VT_QEMU" -machine q35,accel=tcg -cpu max -smp "$(vt_tcg_smp "$smp")" -m "$mem" \
                -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
                -chardev "socket,id=c0,path=$sock" \
                -netdev "vhost-user,id=n0,chardev=c0,queues=$queues" \
                -device "virtio-net-pci,netdev=n0,romfile=,vectors=0$mq$packed" \
                -kernel "$VT_GUEST_DIR/vmlinuz" -initrd "$VT_GUEST_DIR/initramfs.cpio.gz" \
                -append "console=ttyS0 quiet panic=-1 vutest.prog=vutest-net $args" \
                -nodefaults -display none -no-reboot -serial "file:$VT_CONSOLE" -monitor none \
                >"$VT_TMP/qemu-$VT_BOOTS.log" 2>&1 3>&- </dev/null &
        VT_QEMU_PID=$!
        VT_PIDS+=("$VT_QEMU_PID")
}
