#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Who may do what on the control socket: the socket's mode keeps strangers
# out; when they can connect, they may look (status, ping) but not change
# anything unless they are the sidecar's uid, root, or in --control-group.
# Another uid is simulated with setpriv (needs root).

load vuctl-helpers

setup() {
        vuctl_require
        if [[ $(id -u) -ne 0 ]]; then
                skip "needs root to run vuctl as another uid with setpriv"
        fi
        if ! command -v setpriv >/dev/null; then
                skip "setpriv (util-linux) is not installed"
        fi
        # The stranger must be able to execute the binaries in the build tree.
        if ! setpriv --reuid=65534 --regid=65534 --clear-groups "$VUCTL" --version >/dev/null 2>&1; then
                skip "uid 65534 cannot execute $VUCTL (build tree not world-readable)"
        fi
}

teardown() {
        stop_sidecar
}

as_nobody() {
        setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
}

# A python3 the stranger can run (a per-user pyenv shim under /root is not one).
nobody_python() {
        local py
        for py in /usr/bin/python3 /usr/local/bin/python3; do
                if as_nobody "$py" -c '' 2>/dev/null; then
                        NOBODY_PYTHON=$py
                        return 0
                fi
        done
        skip "no python3 that uid 65534 can run"
}

@test "the default socket mode 0660 keeps another uid out (exit 3, says why)" {
        start_sidecar
        [ "$(stat -c %a "$VUCTL_SOCKET")" = 660 ]
        run as_nobody "$VUCTL" ping
        [ "$status" -eq 3 ]
        [[ "$output" == *"Permission denied"* ]]
}

@test "another uid may read but not change: mutating calls are PermissionDenied (exit 1)" {
        start_sidecar --socket-mode 0666
        run as_nobody "$VUCTL" ping
        [ "$status" -eq 0 ]
        run as_nobody "$VUCTL" status
        [ "$status" -eq 0 ]
        run as_nobody "$VUCTL" set log-level err
        [ "$status" -eq 1 ]
        [[ "$output" == *"permission denied"*"SetLogLevel"* ]]
        run as_nobody "$VUCTL" resize 128M
        [ "$status" -eq 1 ]
        run as_nobody "$VUCTL" reset-stats
        [ "$status" -eq 1 ]
        # Nothing changed.
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = debug ]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 67108864 ]
        grep -q "refused io.vusidecar.SetLogLevel to pid .* uid 65534" "$TEST_DIR/sidecar.log"
}

@test "members of --control-group may change settings" {
        start_sidecar --control-group users
        [ "$(stat -c %G "$VUCTL_SOCKET")" = users ]
        run setpriv --reuid=65534 --regid=65534 --groups=100 "$VUCTL" set log-level notice
        [ "$status" -eq 0 ]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = notice ]
        # Not in the group: cannot even connect.
        run as_nobody "$VUCTL" ping
        [ "$status" -eq 3 ]
}

@test "PermissionDenied is sent as org.varlink.service declares it (no parameters); vuctl names the method" {
        nobody_python
        start_sidecar --socket-mode 0666
        run as_nobody "$NOBODY_PYTHON" "$BATS_TEST_DIRNAME/varlink-conformance.py" "$VUCTL_SOCKET" \
                '{"method":"io.vusidecar.SetLogLevel","parameters":{"level":"err"}}' \
                '{"method":"io.vusidecar.Resize","parameters":{"size":134217728}}'
        echo "$output"
        [ "$status" -eq 0 ]
        [ "$(grep -c 'ok io.vusidecar.* -> org.varlink.service.PermissionDenied' <<<"$output")" -eq 2 ]
        run as_nobody "$VUCTL" resize 128M
        [ "$status" -eq 1 ]
        [[ "$output" == *"permission denied: Resize changes the sidecar"* ]]
}

@test "an unprivileged user holding every slot it may have does not lock the operator's probe out" {
        nobody_python
        start_sidecar --socket-mode 0666
        mkdir -m 0777 "$TEST_DIR/nobody"
        # setpriv itself, not the as_nobody function: $! must be the holder, to kill it.
        setpriv --reuid=65534 --regid=65534 --clear-groups "$NOBODY_PYTHON" - "$VUCTL_SOCKET" \
                "$TEST_DIR/nobody/held" >"$TEST_DIR/holder.out" 2>&1 <<'PY' &
import socket, sys, time
held = []
for i in range(40):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b'{"method":"io.vusidecar.Ping"}\0')
    s.settimeout(5)
    reply = s.recv(4096).split(b"\0")[0].decode()
    if "version" not in reply:
        print("refused after", len(held), reply, flush=True)
        break
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
        local holder=$!
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/nobody/held" ]] && break
                sleep 0.1
        done
        cat "$TEST_DIR/holder.out"
        # 32 slots, the last 4 kept for our uid, root and the control group.
        grep 'refused after 28 ' "$TEST_DIR/holder.out" | grep TooManyClients | grep -q '"max":28'
        [[ -e "$TEST_DIR/nobody/held" ]]
        run as_nobody "$VUCTL" ping
        [ "$status" -eq 1 ]
        [[ "$output" == *"too many control connections (28"* ]]
        # The operator (root) still gets in, four times over.
        for _ in 1 2 3 4; do
                run "$VUCTL" ping
                [ "$status" -eq 0 ]
        done
        kill "$holder"
        wait "$holder" || true
}
