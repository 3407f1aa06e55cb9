#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar's tap back end with a real frontend: the sidecar runs inside a
# network namespace the test makes (as it would in a container's own
# namespace) and creates its tap there; QEMU (TCG) boots the test guest with
# a virtio-net-pci device on a vhost-user netdev; the guest and the namespace
# exchange pings and a TCP transfer each way whose sha256 must match at both
# ends. Also: attaching to a persistent tap made for an unprivileged uid works
# without any capability, and creating one without CAP_NET_ADMIN fails with a
# message that says what to do. Addresses are link-local, inside the test's
# own namespace.

load lib/vutest
load lib/vunet

setup() {
        if [[ -z ${VU_SIDECAR:-} || -z ${VUCTL:-} ]]; then
                skip "VU_SIDECAR/VUCTL are unset: no vu-sidecar or vuctl target in this build"
        fi
        if [[ $(id -u) != 0 ]]; then
                skip "network namespaces and taps need root"
        fi
        if [[ ! -c /dev/net/tun ]]; then
                skip "no /dev/net/tun on this machine"
        fi
        vt_setup
        ns=vunet$$
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        sock=$VT_TMP/net.sock
}

teardown() {
        vt_cleanup
        [[ -z ${ns:-} ]] || ip netns del "$ns" 2>/dev/null || true
        [[ -z ${dir:-} ]] || rm -rf "$dir"
}

@test "net tap: guest and namespace exchange pings and 4 MiB each way over TCP, bytes intact" {
        vt_spawn sidecar ip netns exec "$ns" "$VU_SIDECAR" --net "backend=tap,tap=vntap0,socket=$sock" \
                --control "$VT_TMP/control.sock" --runtime-dir "$VT_TMP" --log-level debug
        VT_SIDECAR_PID=$VT_LAST_PID
        vt_wait_socket "$sock" "$VT_SIDECAR_PID"
        ip -n "$ns" addr add 169.254.77.1/24 dev vntap0
        ip -n "$ns" link set vntap0 up

        vt_spawn recv ip netns exec "$ns" socat -u TCP-LISTEN:5000,reuseaddr "OPEN:$VT_TMP/from-guest,creat,trunc"
        local recv_pid=$VT_LAST_PID
        head -c $((4 * 1048576)) /dev/urandom >"$VT_TMP/to-guest"

        qemu_boot_net "$sock" --args "vutest.ip=169.254.77.2/24 vutest.peer=169.254.77.1 vutest.mib=4"
        vt_wait_console '^VUTEST: LISTEN 5001' 240
        local i
        for ((i = 0; i < 100; i++)); do
                kill -0 "$recv_pid" 2>/dev/null || break
                sleep 0.1
        done
        ip netns exec "$ns" socat -u "FILE:$VT_TMP/to-guest" TCP:169.254.77.2:5001,retry=20,interval=0.5
        vt_wait_qemu 120
        vt_check ping tcp-out tcp-in

        local out_guest out_host in_guest in_host
        out_guest=$(sed -n 's/^VUTEST: SHA256 out \([0-9a-f]*\).*/\1/p' <<<"$output")
        out_host=$(sha256sum <"$VT_TMP/from-guest" | cut -d' ' -f1)
        in_guest=$(sed -n 's/^VUTEST: SHA256 in \([0-9a-f]*\).*/\1/p' <<<"$output")
        in_host=$(sha256sum <"$VT_TMP/to-guest" | cut -d' ' -f1)
        echo "# figure: guest→host $out_guest / $out_host; host→guest $in_host / $in_guest" >&3
        [[ -n $out_guest && $out_guest == "$out_host" ]]
        [[ $(stat -c %s "$VT_TMP/from-guest") == $((4 * 1048576)) ]]
        [[ -n $in_guest && $in_guest == "$in_host" ]]

        # Both directions were counted, with no back-end error.
        [[ $(vn_stat 'd["net"]["tx"]["bytes"]') -gt $((4 * 1048576)) ]]
        [[ $(vn_stat 'd["net"]["rx"]["bytes"]') -gt $((4 * 1048576)) ]]
        [[ $(vn_stat 'd["net"]["tx"]["drops"]["backend_error"]') == 0 ]]
        run vn_vuctl -j status
        [[ $output == *'"backend": "tap"'* ]]
        [[ $output == *'"tap": "vntap0"'* ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "net tap: an unprivileged sidecar attaches to a persistent tap made for its uid, and says how when it cannot create one" {
        # Its own directory: nobody cannot enter the 0700 temp dir.
        dir=$(mktemp -d /tmp/vunet-nobody.XXXXXX)
        chmod 0777 "$dir"
        ip -n "$ns" tuntap add dev vntap1 mode tap user nobody vnet_hdr
        vt_spawn sidecar ip netns exec "$ns" setpriv --reuid=nobody --regid=nogroup --clear-groups \
                --inh-caps=-all --bounding-set=-all "$VU_SIDECAR" --net "backend=tap,tap=vntap1,socket=$dir/net.sock" \
                --control none --runtime-dir "$dir"
        VT_SIDECAR_PID=$VT_LAST_PID
        vt_wait_socket "$dir/net.sock" "$VT_SIDECAR_PID"
        grep -q 'attached to tap vntap1' "$VT_TMP/sidecar.log"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar

        run ip netns exec "$ns" setpriv --reuid=nobody --regid=nogroup --clear-groups --inh-caps=-all \
                --bounding-set=-all "$VU_SIDECAR" --net "backend=tap,tap=vnnew0,socket=$dir/net2.sock" \
                --control none --runtime-dir "$dir"
        echo "$output"
        [[ $status == 1 ]]
        [[ $output == *CAP_NET_ADMIN* ]]
        [[ $output == *"ip tuntap add dev vnnew0 mode tap user"* ]]
}

@test "net tap: a receive ring with too few buffers for the largest frame waits for a kick, the event loop stays live" {
        local why
        why=$(vn_dpdk_missing)
        [[ -z $why ]] || skip "$why"
        vn_hugepages
        # MTU 9000 with mergeable buffers: a frame from the tap may need 5 of testpmd's 2 KiB
        # buffers. testpmd in txonly mode never takes frames, so its receive ring runs down to
        # fewer than that and stays there. The sidecar used to go round its tap loop for as long
        # as the ring was not empty: 100% CPU, deaf to vuctl, SIGTERM and the frontend.
        vt_spawn sidecar ip netns exec "$ns" "$VU_SIDECAR" \
                --net "backend=tap,tap=vntap0,mtu=9000,socket=$sock" \
                --control "$VT_TMP/control.sock" --runtime-dir "$VT_TMP" --log-level debug
        VT_SIDECAR_PID=$VT_LAST_PID
        vt_wait_socket "$sock" "$VT_SIDECAR_PID"
        ip -n "$ns" link set vntap0 mtu 9000 up

        vn_testpmd "$sock" 1 -- "set fwd txonly" "start" "sleep 14" "stop" 3>&- &
        local tp_pid=$! i
        for ((i = 0; i < 300; i++)); do
                grep -q 'queue 0 enabled' "$VT_TMP/sidecar.log" && break
                sleep 0.1
        done
        sleep 1
        # 300 small frames from the namespace into the tap, more than the 256 buffers posted.
        ip netns exec "$ns" python3 -c '
import socket
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vntap0", 0))
frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(100)
for _ in range(300):
    s.send(frame)'
        sleep 1
        run timeout 5 "$VUCTL" --socket "$VT_TMP/control.sock" ping
        echo "$output"
        [[ $status == 0 ]]
        local rx holds
        rx=$(vn_stat 'd["queues"][0]["net"]["packets"]')
        holds=$(vn_stat 'd["queues"][0]["net"]["holds"]')
        echo "# figure: $rx frames delivered, $holds holds; the sidecar answered while waiting" >&3
        ((rx > 200 && rx <= 256))
        ((holds >= 1))
        wait "$tp_pid" || true
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
