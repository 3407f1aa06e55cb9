#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl with a frontend connected: a minimal vhost-user frontend in Python
# (memfd guest memory, one split ring of 8, eventfds) sets up queue 0 of the
# blk device, submits one GET_ID request and leaves a chain with an indirect
# table unsubmitted; status, queues, dump and stats must show exactly that.

load vuctl-helpers

setup() {
        vuctl_require
        python3 -c 'import os, socket; os.memfd_create; os.eventfd; socket.send_fds' 2>/dev/null ||
                skip "python3 lacks memfd_create/eventfd/send_fds (needs 3.10+)"
        start_sidecar
        python3 - "$TEST_DIR/blk0.sock" "$TEST_DIR/frontend.ready" >"$TEST_DIR/frontend.log" 2>&1 <<'EOF' &
import mmap, os, socket, struct, sys, time

sock_path, ready = sys.argv[1], sys.argv[2]
QVA, MEM = 0x7f0000000000, 1 << 20
DESC, AVAIL, USED, HDR, DATA, STATUS, TABLE = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000
NUM = 8

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

features = struct.unpack("<Q", msg(1, reply=True))[0]          # GET_FEATURES
msg(3)                                                         # SET_OWNER
msg(2, struct.pack("<Q", features & (1 << 32)))                # SET_FEATURES: VERSION_1 only
msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, MEM, QVA, 0), [fd])  # SET_MEM_TABLE
msg(8, struct.pack("<II", 0, NUM))                             # SET_VRING_NUM
msg(10, struct.pack("<II", 0, 0))                              # SET_VRING_BASE
msg(9, struct.pack("<IIQQQQ", 0, 0, QVA + DESC, QVA + USED, QVA + AVAIL, 0))  # SET_VRING_ADDR
call = os.eventfd(0, os.EFD_NONBLOCK)
kick = os.eventfd(0)
msg(13, struct.pack("<Q", 0), [call])                          # SET_VRING_CALL
msg(12, struct.pack("<Q", 0), [kick])                          # SET_VRING_KICK

def desc(i, addr, length, flags, nxt, base=DESC):
    mem[base + 16 * i: base + 16 * i + 16] = struct.pack("<QIHH", addr, length, flags, nxt)

# Chain 0-1-2: GET_ID (type 8) header, 20-byte id buffer, status byte.
mem[HDR:HDR + 16] = struct.pack("<IIQ", 8, 0, 0)
desc(0, HDR, 16, 1, 1)
desc(1, DATA, 20, 2 | 1, 2)
desc(2, STATUS, 1, 2, 0)
# Chain 3: an indirect table of three entries, made available to nobody.
desc(3, TABLE, 48, 4, 0)
desc(0, HDR, 16, 1, 1, base=TABLE)
desc(1, DATA, 512, 2 | 1, 2, base=TABLE)
desc(2, STATUS, 1, 2, 0, base=TABLE)
mem[AVAIL:AVAIL + 6] = struct.pack("<HHH", 0, 1, 0)            # flags 0, idx 1, ring[0] = head 0
os.eventfd_write(kick, 1)

for _ in range(100):
    if struct.unpack("<H", mem[USED + 2:USED + 4])[0] == 1:
        break
    time.sleep(0.05)
else:
    print("the backend never completed the request")
    sys.exit(1)
print("id:", mem[DATA:DATA + 20].rstrip(b"\0").decode(), "status:", mem[STATUS])
open(ready, "w").close()
time.sleep(60)
EOF
        FRONTEND_PID=$!
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/frontend.ready" ]] && return 0
                kill -0 "$FRONTEND_PID" 2>/dev/null || break
                sleep 0.1
        done
        cat "$TEST_DIR/frontend.log" "$TEST_DIR/sidecar.log" >&2
        return 1
}

teardown() {
        if [[ -n "${FRONTEND_PID:-}" ]]; then
                kill "$FRONTEND_PID" 2>/dev/null || true
                wait "$FRONTEND_PID" 2>/dev/null || true
        fi
        stop_sidecar
}

@test "the frontend's request was served (GET_ID returned the serial)" {
        grep -q "id: blk0 status: 0" "$TEST_DIR/frontend.log"
}

@test "status shows the connected frontend and the negotiated features by name" {
        run "$VUCTL" status
        [ "$status" -eq 0 ]
        [[ "$output" == *"blk0 (blk): connected"* ]]
        [[ "$output" == *"pid $FRONTEND_PID (python3)"* ]]
        [[ "$output" == *"VERSION_1"* ]]
        [[ "$output" == *"memory regions"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["peer"]["pid"]')" = "$FRONTEND_PID" ]
        [ "$(json_field 'j["devices"][0]["feature_names"]')" = "['VERSION_1']" ]
        [ "$(json_field 'j["devices"][0]["regions"][0]["size"]')" = 1048576 ]
        [ "$(json_field 'hex(j["devices"][0]["regions"][0]["qva"])')" = 0x7f0000000000 ]
}

@test "queues shows the ring as the backend holds it and as the guest wrote it" {
        run "$VUCTL" -j queues
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["queues"][0]["size"]')" = 8 ]
        [ "$(json_field 'j["queues"][0]["ready"]')" = True ]
        [ "$(json_field 'j["queues"][0]["last_avail_idx"]')" = 1 ]
        [ "$(json_field 'j["queues"][0]["avail_idx"]')" = 1 ]
        [ "$(json_field 'j["queues"][0]["ring_used_idx"]')" = 1 ]
        [ "$(json_field 'j["queues"][0]["in_use"]')" = 0 ]
        [ "$(json_field 'hex(j["queues"][0]["desc_user_addr"])')" = 0x7f0000001000 ]
        run "$VUCTL" queues
        [ "$status" -eq 0 ]
        [[ "$output" == *"LAST_AVAIL"* ]]
}

@test "dump decodes descriptors, the indirect table, and both rings" {
        run "$VUCTL" -j dump 0 --count 4
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["desc_gpa"]')" = 4096 ]
        [ "$(json_field 'j["descriptors"][0]["flag_names"]')" = "['NEXT']" ]
        [ "$(json_field 'j["descriptors"][0]["next"]')" = 1 ]
        [ "$(json_field 'j["descriptors"][1]["flag_names"]')" = "['NEXT', 'WRITE']" ]
        [ "$(json_field 'j["descriptors"][1]["len"]')" = 20 ]
        [ "$(json_field 'j["descriptors"][3]["flag_names"]')" = "['INDIRECT']" ]
        [ "$(json_field 'len(j["descriptors"][3]["indirect"])')" = 3 ]
        [ "$(json_field 'j["descriptors"][3]["indirect"][1]["len"]')" = 512 ]
        [ "$(json_field 'j["avail"]["idx"]')" = 1 ]
        [ "$(json_field 'j["avail"]["ring"][0]["head"]')" = 0 ]
        [ "$(json_field 'j["used"]["idx"]')" = 1 ]
        [ "$(json_field 'j["used"]["ring"][0]["id"]')" = 0 ]

        run "$VUCTL" dump 0 --from 0 --count 4
        [ "$status" -eq 0 ]
        [[ "$output" == *"split ring of 8"* ]]
        [[ "$output" == *"INDIRECT"* ]]
        [[ "$output" == *"avail ring: idx 1"* ]]
        [[ "$output" == *"used ring: idx 1"* ]]

        run "$VUCTL" dump 1
        [ "$status" -eq 1 ]
        [[ "$output" == *"no queue 1"* ]]
}

@test "stats counts the request in both directions" {
        run "$VUCTL" -j stats
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["devices"][0]["totals"]["guest_to_backend_chains"]')" = 1 ]
        [ "$(json_field 'j["devices"][0]["totals"]["backend_to_guest_chains"]')" = 1 ]
        [ "$(json_field 'j["devices"][0]["totals"]["guest_to_backend_bytes"]')" = 16 ]
        [ "$(json_field 'j["devices"][0]["totals"]["kicks"] >= 1')" = True ]
        [ "$(json_field 'j["devices"][0]["device_counters"]["requests_get_id"]')" = 1 ]

        run "$VUCTL" reset-stats
        [ "$status" -eq 0 ]
        run "$VUCTL" -j stats
        [ "$(json_field 'j["devices"][0]["totals"]["guest_to_backend_chains"]')" = 0 ]
        [ "$(json_field 'j["devices"][0]["device_counters"]["requests_get_id"]')" = 0 ]
}

@test "dump refuses a window that starts past the ring, naming the range; one that runs past it is clipped" {
        run "$VUCTL" dump 0 --from 2000
        [ "$status" -eq 1 ]
        [[ "$output" == *"'from'"*"2000 is past the end of blk0 queue 0: its ring has 8 descriptors, so from must be 0…7"* ]]
        run "$VUCTL" dump 0 --from 8
        [ "$status" -eq 1 ]
        run "$VUCTL" dump 0 --from 6 --count 16
        [ "$status" -eq 0 ]
        [[ "$output" == *"descriptors 6…7"* ]]
        run "$VUCTL" dump 0 --from 7 --count 1
        [ "$status" -eq 0 ]
        [[ "$output" == *"descriptors 7…7"* ]]
}

@test "queues shows avail_event beside used_event" {
        run "$VUCTL" queues
        [ "$status" -eq 0 ]
        [[ "$(sed -n 2p <<<"$output")" == *"USED_EV"*"AVAIL_EV"* ]]
        [[ "$output" == *"AVAIL_EV: avail_event"* ]]
        run "$VUCTL" -j queues
        [ "$(json_field '"avail_event" in j["queues"][0]')" = True ]
}

@test "resize with a frontend that did not negotiate the backend channel says so, not that none is connected" {
        run "$VUCTL" resize 128M
        [ "$status" -eq 0 ]
        [[ "$output" == *"the guest was not told: its frontend did not negotiate the backend channel"* ]]
        [[ "$output" == *"SLAVE_REQ"*"CONFIG"* ]]
        [[ "$output" != *"no frontend"* ]]
        run "$VUCTL" -j resize 192M
        [ "$(json_field 'j["connected"]')" = True ]
        [ "$(json_field 'j["announced"]')" = False ]
        [ "$(json_field 'j["previous_size"]')" = 134217728 ]
}

@test "reset-stats zeroes the connection counters too, so every counter restarts together" {
        run "$VUCTL" -j stats
        [ "$(json_field 'j["devices"][0]["device_counters"]["connections"]')" = 1 ]
        run "$VUCTL" reset-stats
        [ "$status" -eq 0 ]
        run "$VUCTL" -j stats
        [ "$(json_field 'j["devices"][0]["device_counters"]["connections"]')" = 0 ]
        [ "$(json_field 'j["devices"][0]["device_counters"]["status_ok"]')" = 0 ]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["connections"]')" = 0 ]
        run "$VUCTL" -o prometheus stats
        [[ "$output" == *'vusidecar_device_connected{device="blk0",type="blk"} 1'* ]]
}

@test "monitor: when the frontend goes away, each queue it started stops before the disconnect" {
        "$VUCTL" -j monitor >"$TEST_DIR/monitor.out" 2>&1 &
        local mon=$!
        for _ in $(seq 50); do
                grep -q subscribed "$TEST_DIR/monitor.out" && break
                sleep 0.1
        done
        kill "$FRONTEND_PID"
        wait "$FRONTEND_PID" || true
        FRONTEND_PID=
        for _ in $(seq 50); do
                grep -q '"event":"disconnect"' "$TEST_DIR/monitor.out" && break
                sleep 0.1
        done
        kill -INT "$mon"
        wait "$mon" || true
        cat "$TEST_DIR/monitor.out"
        run python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
names = [e["event"] for e in events]
stops = [i for i, e in enumerate(events) if e["event"] == "queue-stop"]
assert len(stops) == 1, names
assert "queue 0" in events[stops[0]]["message"], events[stops[0]]
assert stops[0] < names.index("disconnect"), names
' "$TEST_DIR/monitor.out"
        echo "$output"
        [ "$status" -eq 0 ]
        grep -q "queue 0 stopped" "$TEST_DIR/sidecar.log"
}
