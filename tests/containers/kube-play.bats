#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# containers/kube/vusidecar-pod.yaml under `podman kube play`: the pod comes up
# non-root with a read-only root and no capabilities, its exec probe (vuctl
# ping, which kube play turns into a health check) passes, and a QEMU guest
# attached to the socket in the pod's hostPath directory does real I/O.
# kube play takes no --ulimit or --runtime: a containers.conf gives them.

load lib/ct

setup() {
        ct_setup
        run_dir=$CT_TMP/run
        mkdir -p "$run_dir"
        marker=$(ct_disk "$CT_TMP/disk.img" 64)
        chown 65532:65532 "$run_dir" "$CT_TMP/disk.img"
        printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\n' \
                > "$CT_TMP/containers.conf"
        sed -e "s|image: localhost/vusidecar:latest|image: $CT_IMAGE|" \
            -e "s|path: /run/vusidecar$|path: $run_dir|" \
            -e "s|path: /var/lib/vusidecar/disk.img|path: $CT_TMP/disk.img|" \
            "$SRC_DIR/containers/kube/vusidecar-pod.yaml" > "$CT_TMP/kube.yaml"
        grep -q "$CT_IMAGE" "$CT_TMP/kube.yaml"
        grep -q "path: $run_dir" "$CT_TMP/kube.yaml"
}

teardown() {
        CONTAINERS_CONF=$CT_TMP/containers.conf podman kube down "$CT_TMP/kube.yaml" >/dev/null 2>&1 || true
        ct_teardown
}

@test "kube play: the pod serves a QEMU guest and its vuctl probe passes" {
        local token=KUBE-$RANDOM c=vusidecar-sidecar pid
        run env CONTAINERS_CONF="$CT_TMP/containers.conf" podman kube play --network none "$CT_TMP/kube.yaml"
        echo "$output"
        [[ $status -eq 0 ]]
        ct_wait_socket "$run_dir/blk0.sock" || { podman logs "$c"; false; }
        ct_wait_socket "$run_dir/control.sock"

        [[ $(podman inspect --format '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' "$c") == "65532:65532 true" ]]
        pid=$(podman inspect --format '{{.State.Pid}}' "$c")
        grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"

        run podman healthcheck run "$c"
        echo "$output"
        [[ $status -eq 0 ]]

        ct_guest "$run_dir/blk0.sock" "$CT_TMP/guest.log" "$token"
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$CT_TMP/disk.img"

        if [[ -x ${VUCTL:-} ]]; then
                run "$VUCTL" --socket "$run_dir/control.sock" -j status
                echo "$output"
                [[ $status -eq 0 ]]
                python3 -c '
import json, sys
dev = json.loads(sys.argv[1])["devices"][0]
assert dev["id"] == "blk0" and dev["connections"] >= 1, dev
' "$output"
        fi
        echo "# figure: kube-played sidecar RSS after serving a guest: $(ct_rss "$pid") KiB" >&3
}
