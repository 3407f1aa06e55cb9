#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Rootless podman, as people run sidecars: an unprivileged user with subuids
# runs the image (--userns=keep-id maps the image's uid 65532 to that user,
# so the user's own QEMU may connect and the user's disk file is writable),
# a QEMU guest run by the same user does real I/O through the shared socket
# directory, and vuctl on the host queries the sidecar inside the container.

load lib/ct

setup() {
        ct_setup
        ct_user_ensure
        ct_user_load_image
        dir=$CT_TMP/run
        mkdir -p "$dir"
        marker=$(ct_disk "$CT_TMP/disk.img" 64)
        chown "$CT_USER:" "$dir" "$CT_TMP/disk.img"
}

teardown() {
        ct_teardown
}

ct_start_rootless() {
        name=$(ct_name user-containers)
        ct_as_user podman --runtime runc run -d --name "$name" "${CT_RUN[@]}" \
                --userns=keep-id:uid=65532,gid=65532 \
                -v "$dir:/run/vusidecar" -v "$CT_TMP/disk.img:/var/lib/vusidecar/disk.img" \
                -e VU_SIDECAR_BLK=id=blk0,path=/var/lib/vusidecar/disk.img "$@" "$CT_IMAGE"
        ct_wait_socket "$dir/blk0.sock" || { ct_as_user podman logs "$name"; false; }
        ct_wait_socket "$dir/control.sock"
}

@test "rootless: the user's QEMU guest reads and writes the disk through the sidecar" {
        local token=ROOTLESS-$RANDOM pid
        ct_start_rootless
        pid=$(ct_as_user podman inspect --format '{{.State.Pid}}' "$name")
        # The daemon runs as the unprivileged user on the host, with no capabilities.
        [[ $(awk '/^Uid:/ { print $3 }' "/proc/$pid/status") == "$CT_USER_UID" ]]
        grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"
        echo "# figure: rootless sidecar RSS before the guest: $(ct_rss "$pid") KiB" >&3

        ct_guest "$dir/blk0.sock" "$CT_TMP/guest.log" "$token" --as-user
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$CT_TMP/disk.img"
        echo "# figure: rootless sidecar RSS after the guest: $(ct_rss "$pid") KiB" >&3

        run ct_as_user podman healthcheck run "$name"
        echo "$output"
        [[ $status -eq 0 ]]
}

@test "rootless: vuctl on the host queries the sidecar inside the container" {
        [[ -x ${VUCTL:-} ]] || skip "vuctl was not built in this tree (VUCTL unset)"
        ct_start_rootless
        run ct_as_user "$VUCTL" --socket "$dir/control.sock" ping
        echo "$output"
        [[ $status -eq 0 ]]
        run ct_as_user "$VUCTL" --socket "$dir/control.sock" -j status
        echo "$output"
        [[ $status -eq 0 ]]
        [[ $output == *blk0* ]]
        # The same through the environment variable the probes use.
        run ct_as_user env VUCTL_SOCKET="$dir/control.sock" "$VUCTL" ping
        [[ $status -eq 0 ]]
}

@test "rootless: podman stop is a clean SIGTERM exit; then vuctl ping fails with exit code 3" {
        [[ -x ${VUCTL:-} ]] || skip "vuctl was not built in this tree (VUCTL unset)"
        local start
        ct_start_rootless
        start=$SECONDS
        ct_as_user podman --runtime runc stop -t 10 "$name" >/dev/null 2>&1
        # PID 1 in the container handles SIGTERM itself: no 10 s wait for SIGKILL.
        ((SECONDS - start < 5)) || { echo "podman stop took $((SECONDS - start)) s"; false; }
        [[ $(ct_as_user podman inspect --format '{{.State.ExitCode}}' "$name") == 0 ]]
        run ct_as_user "$VUCTL" --socket "$dir/control.sock" ping
        echo "$output"
        [[ $status -eq 3 ]]
}
