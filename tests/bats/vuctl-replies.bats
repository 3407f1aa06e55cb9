#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl trusts the control socket no more than the sidecar trusts vuctl:
# whatever answers there (another program, a broken or future sidecar) may
# send replies of the wrong shape. A fake varlink server gives each call a
# canned reply; vuctl must report "the sidecar sent a malformed reply" with
# exit 1, never crash (json-c asserts on a wrong type) nor print garbage
# with exit 0.

setup() {
        if [[ -z "${VUCTL:-}" || ! -x "${VUCTL}" ]]; then
                skip "VUCTL is not set to a built vuctl (run through ctest)"
        fi
        TEST_DIR=$(mktemp -d /tmp/vuctl-replies.XXXXXX)
        export VUCTL_SOCKET="$TEST_DIR/control.sock"
        FAKE_PID=
}

teardown() {
        if [[ -n "${FAKE_PID:-}" ]]; then
                kill "$FAKE_PID" 2>/dev/null || true
                wait "$FAKE_PID" 2>/dev/null || true
        fi
        rm -rf "$TEST_DIR"
}

# fake_server REPLY: answer every call with REPLY (raw text, a NUL is added).
fake_server() {
        if [[ -n "${FAKE_PID:-}" ]]; then
                kill "$FAKE_PID" 2>/dev/null || true
                wait "$FAKE_PID" 2>/dev/null || true
        fi
        rm -f "$VUCTL_SOCKET"
        python3 - "$VUCTL_SOCKET" "$1" <<'PY' &
import os, socket, sys
path, reply = sys.argv[1], sys.argv[2].encode()
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path + ".tmp")
srv.listen(8)
os.rename(path + ".tmp", path)
while True:
    c, _ = srv.accept()
    buf = b""
    while b"\0" not in buf:
        d = c.recv(65536)
        if not d:
            break
        buf += d
    c.sendall(reply + b"\0")
    c.close()
PY
        FAKE_PID=$!
        for _ in $(seq 50); do
                [[ -S "$VUCTL_SOCKET" ]] && return 0
                sleep 0.1
        done
        return 1
}

# vuctl_malformed ARGS…: vuctl must exit 1 saying the reply is malformed.
vuctl_malformed() {
        run "$VUCTL" "$@"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ "$output" == *"the sidecar sent a malformed reply"* ]]
}

@test "a field of the wrong type is reported, not a json-c abort" {
        fake_server '{"parameters":{"devices":"x"}}'
        vuctl_malformed status
        [[ "$output" == *"GetStatus"* ]]
        vuctl_malformed -j status
        vuctl_malformed stats
        vuctl_malformed -o prometheus stats
        fake_server '{"parameters":{"version":5,"uptime_usec":"long"}}'
        vuctl_malformed ping
        [[ "$output" == *"version: expected a string, got a number"* ]]
}

@test "a missing required field is reported, not shown as garbage with exit 0" {
        fake_server '{"parameters":{"version":"1","pid":1,"uid":0,"uptime_usec":1,"started_realtime_usec":1,"log_level":"info","io_engine":"threads","control_socket":null,"devices":[{}]}}'
        vuctl_malformed status
        [[ "$output" == *"devices[0]: field 'id' is missing"* ]]
        fake_server '{"parameters":{"devices":[{}]}}'
        vuctl_malformed status
        [[ "$output" == *"field 'version' is missing"* ]]
        fake_server '{"parameters":{"timestamp_usec":1,"devices":[{}]}}'
        vuctl_malformed stats
        [[ "$output" == *"devices[0]: field 'id' is missing"* ]]
        fake_server '{"parameters":{"device":"blk0","connected":true,"queues":[{"index":0}]}}'
        vuctl_malformed queues
        [[ "$output" == *"queues[0]: field 'size' is missing"* ]]
        fake_server '{"parameters":{}}'
        vuctl_malformed log
        vuctl_malformed dump 0
        vuctl_malformed resize 1G
        vuctl_malformed set log-level info
}

@test "error replies are checked too, and non-varlink text is refused" {
        fake_server '{"error":"io.vusidecar.NoSuchDevice","parameters":{"device":7}}'
        vuctl_malformed -d x status
        [[ "$output" == *"NoSuchDevice: device: expected a string"* ]]
        fake_server 'hello'
        vuctl_malformed ping
        fake_server '[1,2]'
        vuctl_malformed ping
        fake_server '{"parameters":{"event":1},"continues":true}'
        vuctl_malformed monitor
}

@test "well-formed replies with fields this vuctl does not know are fine (a newer sidecar)" {
        fake_server '{"parameters":{"version":"9.9","uptime_usec":5,"shiny_new_field":[1]}}'
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
        [[ "$output" == *"vu-sidecar 9.9 is alive"* ]]
        fake_server '{"error":"io.vusidecar.SomethingNew","parameters":{"x":1}}'
        run "$VUCTL" ping
        [ "$status" -eq 1 ]
        [[ "$output" == *"the sidecar answered SomethingNew"* ]]
}
