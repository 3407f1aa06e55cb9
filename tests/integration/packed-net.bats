#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar's virtio-net on packed virtqueues with frontends nobody here
# wrote. DPDK testpmd's virtio_user with packed_vq=1 sends bursts of frames
# and counts what the loopback returns: every frame, every byte, on 1 and 2
# queue pairs, small and large frames, with notifications and with each
# polling mode. DPDK sends a packed SET_VRING_BASE without its used half, so
# this also proves the library starts such rings in the lap the driver uses.
# Then QEMU's virtio-net-pci with packed=on: the guest pings and moves 4 MiB
# each way over TCP through the tap back end, hashes equal at both ends.

load lib/vutest
load lib/vunet

setup() {
        if [[ -z ${VU_SIDECAR:-} || -z ${VUCTL:-} ]]; then
                skip "VU_SIDECAR/VUCTL are unset: no vu-sidecar or vuctl target in this build"
        fi
        VT_TMP=$(mktemp -d /tmp/vupacked.XXXXXX)
        VT_PIDS=()
        sock=$VT_TMP/net.sock
}

teardown() {
        vt_cleanup
        [[ -z ${ns:-} ]] || ip netns del "$ns" 2>/dev/null || true
}

need_dpdk() {
        local why
        why=$(vn_dpdk_missing)
        if [[ -n $why ]]; then
                skip "$why"
        fi
        vn_hugepages
}

# loop QUEUES ROUNDS [FRAME_LEN] — packed testpmd sends ROUNDS times 8 bursts of 32 per queue
# (a ring's worth: testpmd drops what does not fit its 256-entry ring), waiting for them to
# come back in between, and counts them; sets rx_pkts rx_bytes tx_pkts tx_bytes.
loop() {
        local queues=$1 rounds=$2 len=${3:-} r
        local cmds=("set fwd rxonly")
        [[ -z $len ]] || cmds+=("set txpkts $len")
        for ((r = 0; r < rounds; r++)); do
                cmds+=("start tx_first 8" "sleep 1" "stop")
        done
        cmds+=("show port stats 0")
        vn_testpmd "$sock" "$queues" --packed -- "${cmds[@]}" || {
                echo "testpmd failed:"
                tail -n 30 "$VN_LOG"
                return 1
        }
        read -r rx_pkts rx_bytes tx_pkts tx_bytes < <(vn_port_stats)
        echo "# figure: packed testpmd: tx $tx_pkts frames / $tx_bytes bytes, rx $rx_pkts frames / $rx_bytes bytes" >&3
}

# The sidecar ran its queues as packed rings.
ran_packed() {
        grep -q 'queue 0 started (packed' "$VT_TMP/sidecar.log"
        grep -q 'queue 1 started (packed' "$VT_TMP/sidecar.log"
}

@test "packed net: every frame testpmd (packed_vq=1) sends comes back, same count and bytes" {
        need_dpdk
        vn_start_sidecar "$sock" "backend=loopback"
        loop 1 1
        ran_packed
        [[ $tx_pkts == 256 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $tx_bytes -gt 0 ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][0]["net"]["bytes"]') == "$rx_bytes" ]]
        [[ $(vn_stat 'sum(d["net"]["tx"]["drops"].values())') == 0 ]]
        # A second frontend on the same sidecar starts afresh, in lap 1 again.
        loop 1 1
        [[ $tx_pkts == 256 && $rx_pkts == 256 && $rx_bytes == "$tx_bytes" ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed net: 2 queue pairs, 1500-byte frames, busy polling: all come back whole" {
        need_dpdk
        vn_start_sidecar "$sock" "backend=loopback,queues=2,poll=busy"
        loop 2 1 1500
        ran_packed
        [[ $tx_pkts == 512 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $tx_bytes == $((512 * 1500)) ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["packets"]') == 256 ]]
        [[ $(vn_stat 'd["queues"][3]["net"]["packets"]') == 256 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed net: adaptive polling passes every frame, across several laps of the ring" {
        need_dpdk
        vn_start_sidecar "$sock" "backend=loopback,poll=adaptive,poll-usec=100"
        # 3 rounds of 256 frames: three laps of the 256-slot rings each way.
        loop 1 3
        ran_packed
        [[ $tx_pkts == 768 ]]
        [[ $rx_pkts == "$tx_pkts" ]]
        [[ $rx_bytes == "$tx_bytes" ]]
        [[ $(vn_stat 'd["queues"][1]["net"]["polls"]') -gt 0 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed net: DPDK's io forwarding loop through the sidecar keeps running (frames back, counts equal)" {
        need_dpdk
        vn_start_sidecar "$sock" "backend=loopback"
        # Every frame that comes back is sent again: a loop that stops if one frame is lost for good.
        vn_io_loop "$sock" --packed
        # testpmd takes IN_ORDER by default: one used descriptor per run of transmit buffers.
        [[ " $features " == *" IN_ORDER "* ]]
        [[ " $features " == *" RING_PACKED "* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed net: a driver without IN_ORDER (in_order=0) keeps its io forwarding loop running too" {
        need_dpdk
        vn_start_sidecar "$sock" "backend=loopback"
        vn_io_loop "$sock" --packed --no-in-order
        [[ " $features " != *" IN_ORDER "* ]]
        [[ " $features " == *" RING_PACKED "* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed net: a QEMU guest (virtio-net-pci packed=on) pings and moves 4 MiB each way over the tap" {
        if [[ $(id -u) != 0 ]]; then
                skip "network namespaces and taps need root"
        fi
        if [[ ! -c /dev/net/tun ]]; then
                skip "no /dev/net/tun on this machine"
        fi
        vt_guest_build
        ns=vupk$$
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        vt_spawn sidecar ip netns exec "$ns" "$VU_SIDECAR" --net "backend=tap,tap=vpktap0,socket=$sock" \
                --control "$VT_TMP/control.sock" --runtime-dir "$VT_TMP" --log-level debug
        VT_SIDECAR_PID=$VT_LAST_PID
        vt_wait_socket "$sock" "$VT_SIDECAR_PID"
        ip -n "$ns" addr add 169.254.78.1/24 dev vpktap0
        ip -n "$ns" link set vpktap0 up

        vt_spawn recv ip netns exec "$ns" socat -u TCP-LISTEN:5000,reuseaddr "OPEN:$VT_TMP/from-guest,creat,trunc"
        local recv_pid=$VT_LAST_PID i
        head -c $((4 * 1048576)) /dev/urandom >"$VT_TMP/to-guest"

        qemu_boot_net "$sock" --packed --args "vutest.ip=169.254.78.2/24 vutest.peer=169.254.78.1 vutest.mib=4"
        vt_wait_console '^VUTEST: LISTEN 5001' 240
        for ((i = 0; i < 100; i++)); do
                kill -0 "$recv_pid" 2>/dev/null || break
                sleep 0.1
        done
        ip netns exec "$ns" socat -u "FILE:$VT_TMP/to-guest" TCP:169.254.78.2:5001,retry=20,interval=0.5
        vt_wait_qemu 120
        vt_check ping tcp-out tcp-in
        ran_packed

        local out_guest out_host in_guest in_host
        out_guest=$(sed -n 's/^VUTEST: SHA256 out \([0-9a-f]*\).*/\1/p' <<<"$output")
        out_host=$(sha256sum <"$VT_TMP/from-guest" | cut -d' ' -f1)
        in_guest=$(sed -n 's/^VUTEST: SHA256 in \([0-9a-f]*\).*/\1/p' <<<"$output")
        in_host=$(sha256sum <"$VT_TMP/to-guest" | cut -d' ' -f1)
        echo "# figure: guest→host $out_guest / $out_host; host→guest $in_host / $in_guest" >&3
        [[ -n $out_guest && $out_guest == "$out_host" ]]
        [[ -n $in_guest && $in_guest == "$in_host" ]]
        [[ $(vn_stat 'd["net"]["tx"]["bytes"]') -gt $((4 * 1048576)) ]]
        [[ $(vn_stat 'd["net"]["rx"]["bytes"]') -gt $((4 * 1048576)) ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
