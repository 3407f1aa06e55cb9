#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The vu-sidecar image itself: small, non-root, no capabilities, a read-only
# root that still runs, a health check, bad configuration refused at start;
# and a rootful container serving a QEMU guest through a shared socket
# directory while vuctl on the host looks inside it.

load lib/ct

setup() {
        ct_setup
}

teardown() {
        ct_teardown
}

@test "image: FROM-scratch image runs as 65532 with vuctl ping as its health check" {
        local size user hc
        size=$(podman image inspect --format '{{.Size}}' "$CT_IMAGE")
        echo "# figure: image $CT_IMAGE: $((size / 1024)) KiB" >&3
        user=$(podman image inspect --format '{{.Config.User}}' "$CT_IMAGE")
        [[ $user == 65532:65532 ]] || { echo "image user is '$user', expected 65532:65532"; false; }
        hc=$(podman image inspect --format '{{.HealthCheck.Test}}' "$CT_IMAGE")
        [[ $hc == *"/usr/bin/vuctl ping"* ]] || { echo "health check is '$hc'"; false; }
        # Far below a distribution base: the programs, their libraries, dash.
        ((size < 40 * 1024 * 1024)) || { echo "image is $size bytes"; false; }
}

@test "image: vu-sidecar --version and --help run from the read-only root" {
        run "${PODMAN[@]}" run --rm "${CT_RUN_NOHC[@]}" "$CT_IMAGE" --version
        echo "$output"
        [[ $status -eq 0 ]]
        [[ $output == *[0-9].[0-9]* ]]
        run "${PODMAN[@]}" run --rm "${CT_RUN_NOHC[@]}" "$CT_IMAGE" --help
        [[ $status -eq 0 ]]
        [[ $output == *--blk* ]]
}

@test "image: a device whose image file is missing is refused at start, naming the path" {
        run timeout 60 "${PODMAN[@]}" run --rm --name "$(ct_name)" "${CT_RUN_NOHC[@]}" \
                -e VU_SIDECAR_BLK=id=blk0,path=/var/lib/vusidecar/missing.img "$CT_IMAGE"
        echo "$output"
        [[ $status -ne 0 ]]
        [[ $output == *missing.img* ]]
}

@test "rootful: the container serves a QEMU guest through the shared socket directory" {
        local dir=$CT_TMP/run name marker token=ROOTFUL-$RANDOM pid rss
        mkdir -p "$dir"
        marker=$(ct_disk "$CT_TMP/disk.img" 64)
        chown 65532:65532 "$dir" "$CT_TMP/disk.img"
        name=$(ct_name)
        "${PODMAN[@]}" run -d --name "$name" "${CT_RUN[@]}" \
                -v "$dir:/run/vusidecar" -v "$CT_TMP/disk.img:/var/lib/vusidecar/disk.img" \
                -e VU_SIDECAR_BLK=id=blk0,path=/var/lib/vusidecar/disk.img "$CT_IMAGE"
        ct_wait_socket "$dir/blk0.sock" || { podman logs "$name"; false; }
        ct_wait_socket "$dir/control.sock"

        # The capabilities the daemon really holds, seen from the host.
        pid=$(podman inspect --format '{{.State.Pid}}' "$name")
        grep -q '^CapEff:[[:space:]]*0000000000000000$' "/proc/$pid/status"
        [[ $(awk '/^Uid:/ { print $3 }' "/proc/$pid/status") == 65532 ]]

        ct_guest "$dir/blk0.sock" "$CT_TMP/guest.log" "$token"
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$CT_TMP/disk.img"

        run podman healthcheck run "$name"
        echo "$output"
        [[ $status -eq 0 ]]
        rss=$(ct_rss "$pid")
        echo "# figure: rootful sidecar RSS after serving a guest: $rss KiB" >&3
}

@test "rootful: the integration guest's blk checks (serial, flush, discard, write-zeroes) pass through the container" {
        local vt=$SRC_DIR/tests/integration/lib/vutest.bash dir=$CT_TMP/run name
        [[ -f $vt ]] || skip "tests/integration/lib/vutest.bash is not in this tree"
        # shellcheck source=../integration/lib/vutest.bash
        source "$vt"
        VT_TMP=$CT_TMP
        vt_guest_build
        mkdir -p "$dir"
        truncate -s 64M "$CT_TMP/disk.img"
        chown 65532:65532 "$dir" "$CT_TMP/disk.img"
        name=$(ct_name)
        "${PODMAN[@]}" run -d --name "$name" "${CT_RUN[@]}" \
                -v "$dir:/run/vusidecar" -v "$CT_TMP/disk.img:/var/lib/vusidecar/disk.img" \
                -e "VU_SIDECAR_BLK=id=blk0,serial=SN-CT-7,path=/var/lib/vusidecar/disk.img" "$CT_IMAGE"
        ct_wait_socket "$dir/blk0.sock" || { podman logs "$name"; false; }
        # In the container io_uring is refused: this runs the thread-pool engine.
        run qemu_boot_blk "$dir/blk0.sock" --args \
                "vutest=capacity,serial,write,flush,discard,zeroes,verify vutest.sectors=131072 vutest.serial=SN-CT-7 vutest.seed=71"
        vt_check capacity serial write flush discard zeroes verify
}

@test "rootful: a named volume (as vusidecar.volume makes) carries the sockets to the VM's side" {
        local vol="ct-vol-$$-$RANDOM" name mp marker token=VOLUME-$RANDOM
        echo "$vol" > "$CT_TMP/volume"
        podman volume create "$vol" >/dev/null
        marker=$(ct_disk "$CT_TMP/disk.img" 64)
        chown 65532:65532 "$CT_TMP/disk.img"
        name=$(ct_name)
        "${PODMAN[@]}" run -d --name "$name" "${CT_RUN[@]}" \
                -v "$vol:/run/vusidecar" -v "$CT_TMP/disk.img:/var/lib/vusidecar/disk.img" \
                -e VU_SIDECAR_BLK=id=blk0,path=/var/lib/vusidecar/disk.img "$CT_IMAGE"
        mp=$(podman volume inspect --format '{{.Mountpoint}}' "$vol")
        ct_wait_socket "$mp/blk0.sock" || { podman logs "$name"; false; }
        # The volume took the image's directory: owned by the sidecar, closed to others.
        [[ $(stat -c '%u:%g %a' "$mp") == "65532:65532 770" ]] || { stat "$mp"; false; }
        ct_guest "$mp/blk0.sock" "$CT_TMP/guest.log" "$token"
        ct_guest_check "$CT_TMP/guest.log" "$marker" "$token" "$CT_TMP/disk.img"
}
