#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# `vuctl set read-only` while a frontend is connected. QEMU reads GET_FEATURES
# once, when it connects, and sends those bits back in SET_FEATURES each time
# the guest's driver starts (boot, reboot, driver reload). The switch used to
# change what GET_FEATURES offers (RO instead of DISCARD and WRITE_ZEROES), so
# the library refused the next SET_FEATURES ("bits we never offered"), the ring
# came up without INDIRECT_DESC and the guest's first request killed the
# connection: a `set read-only on` before a guest reboot took its disk away.
# A small Python frontend replays QEMU's order: GET_FEATURES, the switch,
# SET_FEATURES with the bits it was offered.

load vuctl-helpers

setup() {
        vuctl_require
        start_sidecar
        python3 - "$TEST_DIR/blk0.sock" "$TEST_DIR/step" >"$TEST_DIR/frontend.log" 2>&1 <<'EOF_PY' &
import os, socket, struct, sys, time

path, step = sys.argv[1], sys.argv[2]
GET_FEATURES, SET_FEATURES = 1, 2

def recvall(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError("connection closed")
        b += c
    return b

def call(s, req, payload=b"", reply=True):
    s.sendall(struct.pack("<III", req, 1, len(payload)) + payload)
    if reply:
        r, flags, size = struct.unpack("<III", recvall(s, 12))
        return recvall(s, size)

def wait_for(name):
    while not os.path.exists(step + "." + name):
        time.sleep(0.05)

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
offered = struct.unpack("<Q", call(s, GET_FEATURES))[0]
print("offered 0x%x" % offered, flush=True)
open(step + ".got", "w").close()
for rnd in ("on", "off"):
    wait_for(rnd)
    # What QEMU sends when the guest's driver starts: the bits it was offered at connect.
    call(s, SET_FEATURES, struct.pack("<Q", offered), reply=False)
    call(s, GET_FEATURES)  # a round trip: SET_FEATURES has been handled
    open(step + ".set-" + rnd, "w").close()
wait_for("quit")
EOF_PY
        FRONTEND_PID=$!
}

teardown() {
        if [[ -n "${FRONTEND_PID:-}" ]]; then
                kill "$FRONTEND_PID" 2>/dev/null || true
                wait "$FRONTEND_PID" 2>/dev/null || true
        fi
        stop_sidecar
}

wait_file() {
        local i
        for ((i = 0; i < 100; i++)); do
                [[ -e $1 ]] && return 0
                sleep 0.1
        done
        echo "no $1 after 10 s; frontend log:" >&2
        cat "$TEST_DIR/frontend.log" "$TEST_DIR/sidecar.log" >&2
        return 1
}

@test "set read-only on and off while connected: the frontend's SET_FEATURES with the bits it was offered is accepted" {
        wait_file "$TEST_DIR/step.got"
        local offered
        offered=$(sed -n 's/^offered //p' "$TEST_DIR/frontend.log")
        for rnd in on off; do
                run "$VUCTL" set read-only "$rnd"
                echo "$output"
                [[ $status -eq 0 ]]
                touch "$TEST_DIR/step.$rnd"
                wait_file "$TEST_DIR/step.set-$rnd"
                run "$VUCTL" -j status
                [[ $status -eq 0 ]]
                [[ $(json_field 'hex(j["devices"][0]["features"])') == "$offered" ]]
                [[ $(json_field 'j["devices"][0]["connected"]') == True ]]
        done
        run grep -q "never offered" "$TEST_DIR/sidecar.log"
        [[ $status == 1 ]]
        # The switch itself still holds: writes were refused while it was on (blk-request.c),
        # and the next frontend is offered VIRTIO_BLK_F_RO when it is on.
        touch "$TEST_DIR/step.quit"
        sidecar_alive
}
