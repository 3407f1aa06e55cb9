#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket handed over by a service manager (an fd named
# "control", as systemd's socket units and systemd-socket-activate pass
# it): the first vuctl call starts the sidecar and is answered on it, and
# the sidecar leaves the socket file, which it did not create, in place.

load vuctl-helpers

setup() {
        vuctl_require
        command -v systemd-socket-activate >/dev/null ||
                skip "systemd-socket-activate is not installed (package systemd)"
        TEST_DIR=$(mktemp -d /tmp/vuctl-bats.XXXXXX)
        truncate -s 64M "$TEST_DIR/disk.img"
        export VUCTL_SOCKET="$TEST_DIR/control.sock"
        systemd-socket-activate -l "$VUCTL_SOCKET" --fdname=control \
                "$VU_SIDECAR" --blk "path=$TEST_DIR/disk.img" --runtime-dir "$TEST_DIR" \
                >"$TEST_DIR/sidecar.log" 2>&1 &
        SIDECAR_PID=$!
        for _ in $(seq 50); do
                [[ -S "$VUCTL_SOCKET" ]] && return 0
                sleep 0.1
        done
        return 1
}

teardown() {
        stop_sidecar
}

@test "the first call starts the sidecar on the activated control socket" {
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
        run "$VUCTL" -j status
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["control_socket"]')" = "$VUCTL_SOCKET" ]
        [ "$(json_field 'j["devices"][0]["id"]')" = blk0 ]
        grep -q "activated control socket" "$TEST_DIR/sidecar.log"
}
