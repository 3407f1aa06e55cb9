#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Socket activation into a container, with the very podman command line that
# containers/systemd/vusidecar@.service runs: systemd-socket-activate plays
# systemd (the fds named vhost-user and control, as the two socket units name
# them), QEMU's first connection starts the container, the daemon inside says
# READY=1 through --sdnotify=container, and the guest's I/O goes through.

load lib/ct

setup() {
        ct_setup
        rt=$CT_TMP/run
        lib=$CT_TMP/lib
        mkdir -p "$rt" "$lib"
        marker=$(ct_disk "$lib/blk0.img" 64)
        chown 65532:65532 "$lib/blk0.img"
        printf 'VU_SIDECAR_BLK=id=blk0,path=/var/lib/vusidecar/blk0.img\nVU_SIDECAR_LOG_LEVEL=debug\n' > "$CT_TMP/blk0.env"
}

teardown() {
        [[ -f $CT_TMP/notify.pid ]] && kill "$(cat "$CT_TMP/notify.pid")" 2>/dev/null
        ct_teardown
}

# The unit's ExecStart (continuation lines joined), for instance blk0, with
# the host paths moved under this test's directory (%t: $2).
unit_exec_start() {
        local name=$1 t=${2:-$CT_TMP}
        awk '/^ExecStart=/ { on = 1; sub(/^ExecStart=/, "") }
             on { line = line " " $0; if ($0 !~ /\\$/) on = 0 }
             END { gsub(/\\/, "", line); print line }' "$SRC_DIR/containers/systemd/vusidecar@.service" |
                sed -e "s|%i|blk0|g" -e "s|%t|$t|g" -e "s|%n|vusidecar@blk0.service|g" \
                    -e "s|/etc/vusidecar/blk0.env|$CT_TMP/blk0.env|" \
                    -e "s|--volume=/var/lib/vusidecar:|--volume=$lib:|" \
                    -e "s|--name=vusidecar-blk0|--name=$name|" \
                    -e "s|\${VUSIDECAR_IMAGE}|$CT_IMAGE|"
}

# What a unit with Type=notify waits for: a datagram socket collecting the
# sd_notify messages.
start_notify_listener() {
        python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
import os; os.chmod(sys.argv[1], 0o777)
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode(errors="replace").replace("\n", " ") + "\n")
' "$CT_TMP/notify.sock" "$CT_TMP/notify.log" &
        echo $! > "$CT_TMP/notify.pid"
        ct_wait_socket "$CT_TMP/notify.sock"
}

@test "socket activation: the unit's podman command starts on QEMU's connection and serves the guest" {
        local name cmd token=ACTIVATED-$RANDOM i
        name=$(ct_name)
        cmd=$(unit_exec_start "$name")
        echo "# ExecStart: $cmd" >&3
        [[ $cmd == *"--sdnotify=container"* && $cmd == *"$CT_IMAGE"* ]]
        start_notify_listener

        NOTIFY_SOCKET=$CT_TMP/notify.sock systemd-socket-activate \
                -l "$rt/blk0.sock" -l "$rt/blk0.control.sock" --fdname=vhost-user:control \
                -E NOTIFY_SOCKET -E PODMAN_SYSTEMD_UNIT=vusidecar@blk0.service \
                /bin/sh -c "exec $cmd" > "$CT_TMP/activate.log" 2>&1 &
        echo $! > "$CT_TMP/activator.pid"
        ct_wait_socket "$rt/blk0.sock"
        # Nothing runs before the first connection.
        if podman container exists "$name"; then
                echo "the container started before any connection"
                false
        fi

        ct_guest "$rt/blk0.sock" "$CT_TMP/guest.log" "$token" || { cat "$CT_TMP/activate.log"; false; }
        cat "$CT_TMP/activate.log"
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$lib/blk0.img"

        # The daemon itself reported readiness, through podman, to "systemd".
        for ((i = 0; i < 50; i++)); do grep -q 'READY=1' "$CT_TMP/notify.log" && break; sleep 0.1; done
        cat "$CT_TMP/notify.log"
        grep -q 'READY=1' "$CT_TMP/notify.log"

        # The control socket arrived as the fd named "control", the vhost-user
        # one as "vhost-user", and the guest's connection was served on it.
        if [[ -x ${VUCTL:-} ]]; then
                run "$VUCTL" --socket "$rt/blk0.control.sock" -j status
                echo "$output"
                [[ $status -eq 0 ]]
                python3 -c '
import json, sys
dev = json.loads(sys.argv[1])["devices"][0]
assert dev["id"] == "blk0", dev["id"]
assert dev["socket_activated"] is True, "socket_activated: %r" % dev["socket_activated"]
assert dev["connections"] >= 1, "connections: %r" % dev["connections"]
' "$output"
        fi
        echo "# figure: socket-activated sidecar RSS: $(ct_rss "$(podman inspect --format '{{.State.Pid}}' "$name")") KiB" >&3
}

@test "socket activation, rootless: an unprivileged user's activator and podman serve that user's QEMU" {
        local name cmd token=ACT-ROOTLESS-$RANDOM urt=$CT_TMP/user-rt
        ct_user_ensure
        ct_user_load_image
        mkdir -p "$urt"
        chown "$CT_USER:" "$rt" "$urt" "$lib/blk0.img"
        chmod 0644 "$CT_TMP/blk0.env"
        name=$(ct_name user-containers)
        # keep-id makes the image's uid 65532 this user, who owns the disk file.
        cmd=$(unit_exec_start "$name" "$urt" | sed 's| run | run --userns=keep-id:uid=65532,gid=65532 |')
        ct_as_user systemd-socket-activate \
                -l "$rt/blk0.sock" -l "$rt/blk0.control.sock" --fdname=vhost-user:control \
                /bin/sh -c "exec $cmd" > "$CT_TMP/activate.log" 2>&1 &
        echo $! > "$CT_TMP/activator.pid"
        ct_wait_socket "$rt/blk0.sock"

        ct_guest "$rt/blk0.sock" "$CT_TMP/guest.log" "$token" --as-user || { cat "$CT_TMP/activate.log"; false; }
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$lib/blk0.img"
        if [[ -x ${VUCTL:-} ]]; then
                run ct_as_user "$VUCTL" --socket "$rt/blk0.control.sock" ping
                echo "$output"
                [[ $status -eq 0 ]]
        fi
}
