#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar's virtio-net loopback against a frontend nobody here wrote: DPDK
# testpmd with a virtio_user port. testpmd sends bursts of frames (tx_first)
# and, in rxonly mode, counts what comes back: every frame sent must come back,
# with the same byte count, on 1 and 2 queue pairs, with small and large
# frames, in every polling mode; and the sidecar's own per-queue counters must
# say the same. Also: link down drops (and counts) frames, an idle sidecar
# uses no CPU. Every test ends with a clean SIGTERM (exit 0, no sanitizer
# report).

load lib/vutest
load lib/vunet

setup() {
        if [[ -z ${VU_SIDECAR:-} || -z ${VUCTL:-} ]]; then
                skip "VU_SIDECAR/VUCTL are unset: no vu-sidecar or vuctl target in this build"
        fi
        local why
        why=$(vn_dpdk_missing)
        if [[ -n $why ]]; then
                skip "$why"
        fi
        vn_hugepages
        VT_TMP=$(mktemp -d /tmp/vunet.XXXXXX)
        VT_PIDS=()
        sock=$VT_TMP/net.sock
}

teardown() {
        vt_cleanup
}

# send_and_count QUEUES BURSTS [txpkts] — tx_first BURSTS bursts of 32 frames per queue
# (at most 8: testpmd drops what does not fit its 256-entry ring), receive them back;
# sets rx_pkts rx_bytes tx_pkts tx_bytes.
send_and_count() {
        local queues=$1 bursts=$2 len=${3:-}
        local cmds=("set fwd rxonly")
        [[ -z $len ]] || cmds+=("set txpkts $len")
        cmds+=("start tx_first $bursts" "sleep 2" "stop" "show port stats 0")
        vn_testpmd "$sock" "$queues" -- "${cmds[@]}" || {
                echo "testpmd failed:"
                tail -n 30 "$VN_LOG"
                return 1
        }
        read -r rx_pkts rx_bytes tx_pkts tx_bytes < <(vn_port_stats)
        echo "# figure: testpmd: tx $tx_pkts frames / $tx_bytes bytes, rx $rx_pkts frames / $rx_bytes bytes" >&3
}

@test "net loopback: every frame testpmd sends comes back, same count and bytes (1 queue pair)" {
        vn_start_sidecar "$sock" "backend=loopback"
        send_and_count 1 8
        [[ $tx_pkts == 256 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $tx_bytes -gt 0 ]]
        # The sidecar saw the same: guest→backend on queue 1, backend→guest on queue 0.
        [[ $(vn_stat 'd["queues"][1]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["direction"]') == guest_to_backend ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["direction"]') == backend_to_guest ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["bytes"]') == "$rx_bytes" ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["sizes"]["size_64"]') == 256 ]]
        [[ $(vn_stat 'sum(d["net"]["tx"]["drops"].values())') == 0 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: 2 queue pairs, both carry frames and all come back" {
        vn_start_sidecar "$sock" "backend=loopback,queues=2"
        send_and_count 2 8
        [[ $tx_pkts == 512 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][3]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][2]["net"]["packets"]') == 256 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: 1500-byte frames come back whole (size bucket 1024-1518), busy polling" {
        # Busy polling spins a core: keep it off testpmd's (cpu 1).
        vn_start_sidecar "$sock" "backend=loopback,queues=2,poll=busy" --taskset 0
        send_and_count 2 8 1500
        [[ $tx_pkts == 512 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $tx_bytes == $((512 * 1500)) ]]
        [[ $(vn_stat 'd["net"]["rx"]["sizes"]["size_1024_1518"]') == 512 ]]
        run vn_vuctl -j status
        [[ $output == *'"poll_mode": "busy"'* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: adaptive polling passes every frame, then the idle sidecar uses no CPU" {
        vn_start_sidecar "$sock" "backend=loopback,poll=adaptive,poll-usec=100"
        send_and_count 1 8
        [[ $tx_pkts == 256 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["polls"]') -gt 0 ]]
        # testpmd has gone; the sidecar waits for the next frontend: at most 2% of a core over 5 s.
        local t0 t1 hz
        hz=$(getconf CLK_TCK)
        t0=$(vn_cpu_ticks "$VT_SIDECAR_PID")
        sleep 5
        t1=$(vn_cpu_ticks "$VT_SIDECAR_PID")
        echo "# figure: idle CPU: $((t1 - t0)) ticks in 5 s (hz $hz)" >&3
        (((t1 - t0) * 100 <= 2 * 5 * hz))
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: testpmd takes IN_ORDER (its default), and its in-order io forwarding loop keeps running" {
        vn_start_sidecar "$sock" "backend=loopback"
        vn_io_loop "$sock"
        [[ " $features " == *" IN_ORDER "* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: a driver without IN_ORDER (in_order=0) is served the same" {
        vn_start_sidecar "$sock" "backend=loopback"
        vn_io_loop "$sock" --no-in-order
        [[ " $features " != *" IN_ORDER "* ]]
        [[ " $features " == *" MRG_RXBUF "* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: link down drops frames (counted as link_down), link up passes them again" {
        vn_start_sidecar "$sock" "backend=loopback"
        run vn_vuctl set link down
        [[ $status == 0 ]]
        [[ $output == *"up -> down"* ]]
        send_and_count 1 4
        [[ $tx_pkts == 128 ]]
        [[ $rx_pkts == 0 ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["drops"]["link_down"]') == 128 ]]
        run vn_vuctl -j status
        [[ $output == *'"link": "down"'* ]]
        run vn_vuctl set link up
        [[ $status == 0 ]]
        send_and_count 1 4
        [[ $rx_pkts == 128 ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net loopback: a frame needing more receive buffers than the ring holds waits for room, the sidecar stays live" {
        # 6 KiB frames in three 2 KiB buffers each, MTU 9000 with mergeable buffers: each frame
        # looped back needs three of testpmd's 2 KiB receive buffers. testpmd in txonly mode never
        # takes frames back, so its 256 posted buffers run down to 256 mod 3 = 1. The sidecar used
        # to go round its loop for as long as the ring was not empty: 100% CPU, deaf to vuctl,
        # SIGTERM and the frontend's own GET_VRING_BASE (testpmd hung on quit).
        local ring packed
        for ring in split packed; do
                packed=
                [[ $ring == packed ]] && packed=--packed
                vn_start_sidecar "$sock" "backend=loopback,mtu=9000"
                vn_testpmd "$sock" 1 $packed --args "--max-pkt-len=9100 --enable-scatter" -- \
                        "set txpkts 2048,2048,2000" "set fwd txonly" "start" "sleep 6" "stop" 3>&- &
                local tp_pid=$! i
                for ((i = 0; i < 300; i++)); do
                        grep -q 'queue 1 enabled' "$VT_TMP/sidecar.log" && break
                        sleep 0.1
                done
                sleep 2
                run timeout 5 "$VUCTL" --socket "$VT_TMP/control.sock" ping
                echo "$ring: $output"
                [[ $status == 0 ]]
                local rx popped pushed holds drops
                read -r rx popped pushed holds drops < <(vn_stat '" ".join(str(x) for x in (
                        d["queues"][0]["net"]["packets"], d["queues"][0]["guest_to_backend_chains"],
                        d["queues"][0]["backend_to_guest_chains"], d["queues"][0]["net"]["holds"],
                        d["queues"][0]["net"]["drops"]["no_rx_buffer"]))')
                echo "# figure: $ring: $rx 6 KiB frames looped into 256 buffers, then $holds holds and $drops frames dropped for want of room; the sidecar answered while waiting" >&3
                ((rx == 85))
                ((holds >= 1 && drops > 0))
                # Buffers taken and given back while waiting are not counted as taken.
                ((popped == pushed))
                wait "$tp_pid"
                vt_stop_clean "$VT_SIDECAR_PID" sidecar
                rm -f "$sock"
        done
}

@test "net: bad --net values are refused at start with the key and value named (exit 2)" {
        run "$VU_SIDECAR" --net "backend=bogus" --control none --runtime-dir "$VT_TMP"
        [[ $status == 2 ]]
        [[ $output == *"backend=bogus"* ]]
        run "$VU_SIDECAR" --net "queues=99" --control none --runtime-dir "$VT_TMP"
        [[ $status == 2 ]]
        [[ $output == *"queues=99"* ]]
        run "$VU_SIDECAR" --net "mac=01:00:5e:00:00:01" --control none --runtime-dir "$VT_TMP"
        [[ $status == 2 ]]
        [[ $output == *"multicast"* ]]
        run "$VU_SIDECAR" --net "poll=sometimes" --control none --runtime-dir "$VT_TMP"
        [[ $status == 2 ]]
        [[ $output == *"poll=sometimes"* ]]
        run "$VU_SIDECAR" --net "tap=x,backend=loopback" --control none --runtime-dir "$VT_TMP"
        [[ $status == 2 ]]
}
