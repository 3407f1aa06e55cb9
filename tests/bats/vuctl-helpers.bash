# SPDX-License-Identifier: GPL-2.0-or-later
# Shared by tests/bats/vuctl-*.bats: start a real vu-sidecar serving one
# blk image (or one net device) with its control socket in a private
# directory, stop it after each test, and a generic varlink client
# (python3) that speaks the wire protocol directly, NUL-framed JSON, as any
# third-party client would.

vuctl_require() {
        if [[ -z "${VU_SIDECAR:-}" || ! -x "${VU_SIDECAR}" ]]; then
                skip "VU_SIDECAR is not set to a built vu-sidecar (run through ctest)"
        fi
        if [[ -z "${VUCTL:-}" || ! -x "${VUCTL}" ]]; then
                skip "VUCTL is not set to a built vuctl (run through ctest)"
        fi
}

# start_sidecar [extra vu-sidecar options…]: serve $TEST_DIR/disk.img as blk0
# (and $TEST_DIR/disk2.img as $SECOND_DEVICE if that is set, and
# $TEST_DIR/ro.img read-only=on as $READ_ONLY_DEVICE if that is set).
start_sidecar() {
        TEST_DIR=$(mktemp -d /tmp/vuctl-bats.XXXXXX)
        chmod 0755 "$TEST_DIR"
        truncate -s 64M "$TEST_DIR/disk.img"
        export VUCTL_SOCKET="$TEST_DIR/control.sock"
        local second=()
        if [[ -n "${SECOND_DEVICE:-}" ]]; then
                truncate -s 32M "$TEST_DIR/disk2.img"
                second=(--blk "path=$TEST_DIR/disk2.img,id=$SECOND_DEVICE")
        fi
        if [[ -n "${READ_ONLY_DEVICE:-}" ]]; then
                truncate -s 32M "$TEST_DIR/ro.img"
                second+=(--blk "path=$TEST_DIR/ro.img,id=$READ_ONLY_DEVICE,read-only=on")
        fi
        launch_sidecar --blk "path=$TEST_DIR/disk.img" "${second[@]}" "$@"
}

# start_net_sidecar [SPEC] [extra vu-sidecar options…]: serve one virtio-net
# device, net0 on the loopback back end unless SPEC (--net's KEY=VALUE,…)
# says otherwise, and no blk device.
start_net_sidecar() {
        TEST_DIR=$(mktemp -d /tmp/vuctl-bats.XXXXXX)
        chmod 0755 "$TEST_DIR"
        export VUCTL_SOCKET="$TEST_DIR/control.sock"
        launch_sidecar --net "${1:-backend=loopback}" "${@:2}"
}

# launch_sidecar OPTIONS…: run vu-sidecar in $TEST_DIR with these devices and
# options (after ours, so they win) and wait for its control socket.
launch_sidecar() {
        "$VU_SIDECAR" --runtime-dir "$TEST_DIR" --control "$VUCTL_SOCKET" --log-level debug "$@" \
                >"$TEST_DIR/sidecar.log" 2>&1 &
        SIDECAR_PID=$!
        for _ in $(seq 100); do
                [[ -S "$VUCTL_SOCKET" ]] && return 0
                kill -0 "$SIDECAR_PID" 2>/dev/null || break
                sleep 0.1
        done
        echo "vu-sidecar did not create $VUCTL_SOCKET; its log:" >&2
        cat "$TEST_DIR/sidecar.log" >&2
        return 1
}

# Stop the sidecar; it must exit 0 on SIGTERM and, in sanitizer builds,
# without a report (what the test sent must not have corrupted or leaked).
stop_sidecar() {
        local rc=0 failed=0

        if [[ -n "${SIDECAR_PID:-}" ]]; then
                kill -TERM "$SIDECAR_PID" 2>/dev/null || true
                wait "$SIDECAR_PID" 2>/dev/null || rc=$?
                SIDECAR_PID=
                if [[ $rc -ne 0 ]] || grep -qE "Sanitizer|runtime error:" "$TEST_DIR/sidecar.log"; then
                        echo "vu-sidecar exited with $rc; its log:" >&2
                        cat "$TEST_DIR/sidecar.log" >&2
                        failed=1
                fi
        fi
        if [[ -n "${TEST_DIR:-}" ]]; then
                rm -rf "$TEST_DIR"
                TEST_DIR=
        fi
        return $failed
}

# The sidecar must still be running (not crashed by what a test sent).
sidecar_alive() {
        kill -0 "$SIDECAR_PID"
}

# vl_call JSON…: send each message (a NUL after each) on one connection,
# print each reply on its own line, stop after as many replies as messages
# sent (or VL_REPLIES), or after VL_TIMEOUT seconds (default 5).
vl_call() {
        python3 - "$VUCTL_SOCKET" "$@" <<'EOF'
import os, socket, sys, time
path, msgs = sys.argv[1], sys.argv[2:]
want = int(os.environ.get("VL_REPLIES", len(msgs)))
deadline = time.monotonic() + float(os.environ.get("VL_TIMEOUT", "5"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
for m in msgs:
    s.sendall(m.encode("utf-8", "surrogateescape") + b"\0")
buf, got = b"", 0
while got < want:
    left = deadline - time.monotonic()
    if left <= 0:
        print("TIMEOUT")
        break
    s.settimeout(left)
    try:
        data = s.recv(65536)
    except socket.timeout:
        print("TIMEOUT")
        break
    if not data:
        print("EOF")
        break
    buf += data
    while b"\0" in buf and got < want:
        msg, buf = buf.split(b"\0", 1)
        print(msg.decode())
        got += 1
EOF
}

# json_field EXPR: evaluate a Python expression on the JSON in $output (as j).
json_field() {
        python3 -c 'import json,sys; j=json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$output"
}
