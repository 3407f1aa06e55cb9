#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl against a virtio-net device on the loopback back end: stats shows a
# NIC's counters (per queue direction, packets, bytes, drops by reason,
# frame sizes) and none of a disk's, in the table, in JSON and for
# Prometheus; status names the polling mode once. A minimal frontend in
# Python (memfd guest memory, receive and transmit rings of 8) sends three
# frames of 60, 100 and 1000 bytes through the loopback, and, once the test
# has set the link down, a fourth that must be dropped as link_down.

load vuctl-helpers

setup() {
        vuctl_require
}

teardown() {
        if [[ -n "${FRONTEND_PID:-}" ]]; then
                kill "$FRONTEND_PID" 2>/dev/null || true
                wait "$FRONTEND_PID" 2>/dev/null || true
                FRONTEND_PID=
        fi
        stop_sidecar
}

# Start the frontend on net0 and wait until its three frames came back.
start_net_frontend() {
        python3 -c 'import os, socket; os.memfd_create; os.eventfd; socket.send_fds' 2>/dev/null ||
                skip "python3 lacks memfd_create/eventfd/send_fds (needs 3.10+)"
        python3 - "$TEST_DIR/net0.sock" "$TEST_DIR/frontend.ready" >"$TEST_DIR/frontend.log" 2>&1 <<'PY' &
import mmap, os, socket, struct, sys, time

sock_path, ready = sys.argv[1], sys.argv[2]
QVA, MEM = 0x7f0000000000, 1 << 20
NUM = 8
# Queue 0 (receiveq) and 1 (transmitq): descriptor table, avail and used ring each.
RX = dict(desc=0x1000, avail=0x2000, used=0x3000)
TX = dict(desc=0x4000, avail=0x5000, used=0x6000)
RXBUF, TXBUF, BUFSZ = 0x10000, 0x30000, 0x800
HDR = 12  # VERSION_1: struct virtio_net_hdr_mrg_rxbuf

fd = os.memfd_create("guest")
os.ftruncate(fd, MEM)
mem = mmap.mmap(fd, MEM)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)

def msg(req, payload=b"", fds=(), reply=False):
    data = struct.pack("<III", req, 0x1, len(payload)) + payload
    if fds:
        socket.send_fds(s, [data], list(fds))
    else:
        s.sendall(data)
    if reply:
        hdr = s.recv(12, socket.MSG_WAITALL)
        _, _, size = struct.unpack("<III", hdr)
        return s.recv(size, socket.MSG_WAITALL)

def used_idx(q):
    return struct.unpack("<H", mem[q["used"] + 2:q["used"] + 4])[0]

def wait_used(q, n):
    for _ in range(200):
        if used_idx(q) >= n:
            return True
        time.sleep(0.025)
    return False

features = struct.unpack("<Q", msg(1, reply=True))[0]          # GET_FEATURES
msg(3)                                                         # SET_OWNER
msg(2, struct.pack("<Q", features & (1 << 32)))                # SET_FEATURES: VERSION_1 only
msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, MEM, QVA, 0), [fd])  # SET_MEM_TABLE
kicks = []
for idx, q in ((0, RX), (1, TX)):
    msg(8, struct.pack("<II", idx, NUM))                       # SET_VRING_NUM
    msg(10, struct.pack("<II", idx, 0))                        # SET_VRING_BASE
    msg(9, struct.pack("<IIQQQQ", idx, 0, QVA + q["desc"], QVA + q["used"], QVA + q["avail"], 0))
    msg(13, struct.pack("<Q", idx), [os.eventfd(0, os.EFD_NONBLOCK)])  # SET_VRING_CALL
    kicks.append(os.eventfd(0))
    msg(12, struct.pack("<Q", idx), [kicks[-1]])               # SET_VRING_KICK

def post(q, slot, addr, length, flags, avail):
    d = q["desc"] + 16 * slot
    mem[d:d + 16] = struct.pack("<QIHH", addr, length, flags, 0)
    mem[q["avail"] + 4 + 2 * (avail % NUM):q["avail"] + 6 + 2 * (avail % NUM)] = struct.pack("<H", slot)

# Four receive buffers, writable; then three frames of 60, 100 and 1000 bytes.
for i in range(4):
    post(RX, i, RXBUF + i * BUFSZ, BUFSZ, 2, i)
mem[RX["avail"]:RX["avail"] + 4] = struct.pack("<HH", 0, 4)
os.eventfd_write(kicks[0], 1)
sizes = [60, 100, 1000]
for i, n in enumerate(sizes):
    mem[TXBUF + i * BUFSZ:TXBUF + i * BUFSZ + HDR + n] = bytes(HDR) + bytes([i + 1]) * n
    post(TX, i, TXBUF + i * BUFSZ, HDR + n, 0, i)
mem[TX["avail"]:TX["avail"] + 4] = struct.pack("<HH", 0, len(sizes))
os.eventfd_write(kicks[1], 1)
if not (wait_used(TX, 3) and wait_used(RX, 3)):
    print("the backend did not loop the frames back: tx used", used_idx(TX), "rx used", used_idx(RX))
    sys.exit(1)
print("looped", len(sizes), "frames")
open(ready, "w").close()

# On request (the test set the link down): one more frame, which the backend must drop.
more = ready + ".more"
for _ in range(1200):
    if os.path.exists(more):
        break
    time.sleep(0.05)
else:
    time.sleep(60)
    sys.exit(0)
mem[TXBUF + 3 * BUFSZ:TXBUF + 3 * BUFSZ + HDR + 60] = bytes(HDR + 60)
post(TX, 3, TXBUF + 3 * BUFSZ, HDR + 60, 0, 3)
mem[TX["avail"] + 2:TX["avail"] + 4] = struct.pack("<H", 4)
os.eventfd_write(kicks[1], 1)
if not wait_used(TX, 4):
    print("the backend did not take the fourth frame")
    sys.exit(1)
print("sent the fourth frame")
open(more + ".done", "w").close()
time.sleep(60)
PY
        FRONTEND_PID=$!
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/frontend.ready" ]] && return 0
                kill -0 "$FRONTEND_PID" 2>/dev/null || break
                sleep 0.1
        done
        cat "$TEST_DIR/frontend.log" "$TEST_DIR/sidecar.log" >&2
        return 1
}

# Ask the frontend for its fourth frame and wait until the backend took it.
send_fourth_frame() {
        touch "$TEST_DIR/frontend.ready.more"
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/frontend.ready.more.done" ]] && return 0
                kill -0 "$FRONTEND_PID" 2>/dev/null || break
                sleep 0.1
        done
        cat "$TEST_DIR/frontend.log" "$TEST_DIR/sidecar.log" >&2
        return 1
}

@test "net stats: the NIC's table per queue and direction, no disk counters" {
        start_net_sidecar
        run "$VUCTL" stats
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"net0 (net)"* ]]
        [[ "$output" == *"QUEUE  DIRECTION      PACKETS  BYTES  DROPS  HOLDS  POLLS"* ]]
        grep -qE '^ +0  backend→guest +0 +0 B +0 +0 +0$' <<<"$output"
        grep -qE '^ +1  guest→backend +0 +0 B +0 +0 +0$' <<<"$output"
        [[ "$output" == *"no drops"* ]]
        [[ "$output" == *"FRAME BYTES  GUEST→BACKEND  BACKEND→GUEST"* ]]
        [[ "$output" == *"1024-1518"* ]]
        [[ "$output" == *"control queue: 0 commands, 0 failed; connections: 0 served, 0 turned away"* ]]
        # A disk's counters mean nothing for a NIC.
        [[ "$output" != *"DEVICE COUNTER"* ]]
        for blk in requests_read requests_flush status_ioerr discarded_bytes latency_usec_total in_flight throttled; do
                [[ "$output" != *"$blk"* ]]
        done
}

@test "net -j stats: device_counters holds the connection counts only, the queues none" {
        start_net_sidecar "backend=loopback,queues=2"
        run "$VUCTL" -j stats
        [ "$status" -eq 0 ]
        [ "$(json_field 'sorted(j["devices"][0]["device_counters"])')" = "['connections', 'connections_refused']" ]
        [ "$(json_field '"requests_read" in j["devices"][0]["device_counters"]')" = False ]
        [ "$(json_field 'len(j["devices"][0]["queues"])')" = 5 ]
        [ "$(json_field '[q for q in j["devices"][0]["queues"] if "device_counters" in q]')" = "[]" ]
        [ "$(json_field '[q["net"]["direction"] for q in j["devices"][0]["queues"][:4]]')" = \
                "['backend_to_guest', 'guest_to_backend', 'backend_to_guest', 'guest_to_backend']" ]
        [ "$(json_field 'j["devices"][0]["queues"][4].get("net")')" = None ]
        [ "$(json_field 'sorted(j["devices"][0]["net"])')" = "['control_commands', 'control_errors', 'rx', 'tx']" ]
        # The reply still matches the interface description vuctl checks replies against.
        run "$VUCTL" stats
        [ "$status" -eq 0 ]
        grep -qE '^ +3  guest→backend' <<<"$output"
}

@test "net prometheus: vusidecar_net_* per queue and direction, each metric's samples together" {
        start_net_sidecar
        run "$VUCTL" -o prometheus stats
        [ "$status" -eq 0 ]
        [[ "$output" == *'vusidecar_net_packets_total{device="net0",queue="0",direction="backend_to_guest"} 0'* ]]
        [[ "$output" == *'vusidecar_net_bytes_total{device="net0",queue="1",direction="guest_to_backend"} 0'* ]]
        [[ "$output" == *'vusidecar_net_drops_total{device="net0",queue="1",direction="guest_to_backend",reason="link_down"} 0'* ]]
        [[ "$output" == *'vusidecar_net_frames_total{device="net0",queue="0",direction="backend_to_guest",size="1024_1518"} 0'* ]]
        [[ "$output" == *'vusidecar_net_control_commands_total{device="net0"} 0'* ]]
        [[ "$output" == *'vusidecar_device_connections_total{device="net0",type="net"} 0'* ]]
        [[ "$output" != *"requests_read"* ]]
        # Valid names, one TYPE per metric, and every metric's samples in one block after it.
        python3 -c '
import re, sys
seen, current = set(), None
for line in sys.stdin.read().splitlines():
    if line.startswith("# TYPE "):
        name = line.split()[2]
        assert name not in seen, f"{name} declared twice"
        seen.add(name)
        current = name
    elif not line.startswith("#"):
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0)
        assert name == current, f"{name} sample outside its block ({current})"
        assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-z_]+=\"[^\"]*\"(,[a-z_]+=\"[^\"]*\")*\})? [0-9]+", line), line
' <<<"$output"
}

@test "net status: polling shown once, with the right mode; no disk-only lines" {
        local spec want
        for spec in "poll=off|polling +off \(event-driven\)" \
                "poll=busy|polling +busy, notifications never re-armed" \
                "poll=adaptive,poll-usec=70|polling +adaptive, 70 µs after work"; do
                start_net_sidecar "backend=loopback,${spec%%|*}"
                want=${spec#*|}
                run "$VUCTL" status
                echo "$output"
                [ "$status" -eq 0 ]
                [ "$(grep -ci 'poll' <<<"$output")" -eq 1 ]
                grep -qE "^  $want" <<<"$output"
                [[ "$output" != *"I/O engine"* ]]
                [[ "$output" != *"12 B (12)"* ]]
                stop_sidecar
        done
        # Switched at run time, the one line follows.
        start_net_sidecar
        run "$VUCTL" set poll 30
        [ "$status" -eq 0 ]
        run "$VUCTL" status
        [ "$(grep -ci 'poll' <<<"$output")" -eq 1 ]
        [[ "$output" == *"polling               adaptive, 30 µs after work"* ]]
}

@test "net frames through the loopback: the table, the JSON and Prometheus agree on every count" {
        start_net_sidecar
        start_net_frontend
        run "$VUCTL" -j stats
        [ "$status" -eq 0 ]
        # Three frames left on queue 1 and came back on queue 0: 60 + 100 + 1000 bytes.
        [ "$(json_field '[j["devices"][0]["queues"][i]["net"]["packets"] for i in (0, 1)]')" = "[3, 3]" ]
        [ "$(json_field '[j["devices"][0]["queues"][i]["net"]["bytes"] for i in (0, 1)]')" = "[1160, 1160]" ]
        [ "$(json_field 'j["devices"][0]["queues"][1]["guest_to_backend_chains"]')" = 3 ]
        [ "$(json_field 'j["devices"][0]["queues"][0]["backend_to_guest_chains"]')" = 3 ]
        [ "$(json_field '[j["devices"][0]["net"][d]["packets"] for d in ("tx", "rx")]')" = "[3, 3]" ]
        [ "$(json_field '[v for k, v in j["devices"][0]["net"]["tx"]["sizes"].items() if v]')" = "[1, 1, 1]" ]
        run "$VUCTL" stats
        echo "$output"
        grep -qE '^ +0  backend→guest +3 +1\.13 KiB +0 +0 +0$' <<<"$output"
        grep -qE '^ +1  guest→backend +3 +1\.13 KiB +0 +0 +0$' <<<"$output"
        grep -qE '^total  guest→backend +3 ' <<<"$output"
        grep -qE '^ +≤64 +1 +1$' <<<"$output"
        grep -qE '^ +65-127 +1 +1$' <<<"$output"
        grep -qE '^ +512-1023 +1 +1$' <<<"$output"
        [[ "$output" == *"no drops"* ]]
        [[ "$output" == *"connections: 1 served"* ]]
        run "$VUCTL" -o prometheus stats
        [[ "$output" == *'vusidecar_net_packets_total{device="net0",queue="1",direction="guest_to_backend"} 3'* ]]
        [[ "$output" == *'vusidecar_net_bytes_total{device="net0",queue="0",direction="backend_to_guest"} 1160'* ]]
        [[ "$output" == *'vusidecar_net_frames_total{device="net0",queue="1",direction="guest_to_backend",size="65_127"} 1'* ]]

        # Link down: the fourth frame is dropped, by reason, and counted nowhere else.
        run "$VUCTL" set link down
        [ "$status" -eq 0 ]
        send_fourth_frame
        run "$VUCTL" stats
        echo "$output"
        grep -qE '^ +1  guest→backend +3 +1\.13 KiB +1 +0 +0$' <<<"$output"
        grep -qE '^QUEUE  DIRECTION +DROP REASON +DROPS$' <<<"$output"
        grep -qE '^ +1  guest→backend +link_down +1$' <<<"$output"
        [[ "$output" != *"no drops"* ]]
        [[ "$output" != *"no_rx_buffer"* ]]
        run "$VUCTL" -o prometheus stats
        [[ "$output" == *'vusidecar_net_drops_total{device="net0",queue="1",direction="guest_to_backend",reason="link_down"} 1'* ]]
        [[ "$output" == *'vusidecar_net_packets_total{device="net0",queue="1",direction="guest_to_backend"} 3'* ]]
}

@test "net stats --watch: packet and byte rates beside the counts" {
        start_net_sidecar
        start_net_frontend
        run timeout -s INT 2 "$VUCTL" stats --watch 0.5
        echo "$output"
        [[ "$output" == *"PACKETS  PACKETS/s"*"BYTES  BYTES/s"* ]]
        grep -qE '^ +1  guest→backend +3 +0\.0 +1\.13 KiB +0 B/s ' <<<"$output"
}
