#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The real-frontend test infrastructure proven against a backend nobody here
# wrote: qemu-storage-daemon exports a raw image as vhost-user-blk, QEMU (TCG)
# boots the test guest against it, and the guest checks what a user of the disk
# would notice. If these fail, the fault is in the infrastructure, not in
# vu-sidecar (blk-sidecar.bats runs the same scenarios against it).

load lib/vutest

setup() {
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

@test "qsd: the guest writes a pattern, reads it back (O_DIRECT and buffered), sees the capacity" {
        vt_start_qsd "$img" "$sock"
        run qemu_boot_blk "$sock" --args "vutest=capacity,write,verify vutest.sectors=131072 vutest.seed=11"
        vt_check capacity write verify
}

@test "qsd: fsync reaches the device, discard and write-zeroes clear exactly the range" {
        vt_start_qsd "$img" "$sock"
        run qemu_boot_blk "$sock" --args "vutest=write,flush,discard,zeroes,verify vutest.seed=12"
        vt_check write flush discard zeroes verify
}

@test "qsd: 2 queues and 2 vCPUs, both queues carry I/O" {
        vt_start_qsd "$img" "$sock" --queues 2
        run qemu_boot_blk "$sock" --smp 2 --args "vutest=mq,write,verify vutest.queues=2 vutest.seed=13"
        vt_check mq write verify
}

@test "qsd: QEMU stopped and started again against the same running qsd finds the data" {
        vt_start_qsd "$img" "$sock"
        local qsd_pid=$VT_LAST_PID
        run qemu_boot_blk "$sock" --args "vutest=write,verify vutest.seed=14"
        vt_check write verify
        run qemu_boot_blk "$sock" --args "vutest=verify-only vutest.seed=14"
        vt_check verify-only
        kill -0 "$qsd_pid"
}

@test "qsd: QEMU killed while the guest holds the disk, a new QEMU finds the data" {
        vt_start_qsd "$img" "$sock"
        qemu_boot_blk "$sock" --bg --args "vutest=write,idle vutest.seed=15 vutest.idle-secs=60"
        vt_wait_console '^VUTEST: IDLE begin' 90
        grep -q '^VUTEST: PASS write' "$VT_CONSOLE"
        kill -KILL "$VT_QEMU_PID"
        run qemu_boot_blk "$sock" --args "vutest=verify-only vutest.seed=15"
        vt_check verify-only
}

@test "qsd: restarted while QEMU (reconnect=1) idles, the guest then finds its data" {
        vt_start_qsd "$img" "$sock"
        local first=$VT_LAST_PID
        qemu_boot_blk "$sock" --bg --reconnect \
                --args "vutest=write,idle,verify-only vutest.seed=16 vutest.idle-secs=10"
        vt_wait_console '^VUTEST: IDLE begin' 90
        kill -TERM "$first"
        wait "$first" || true
        rm -f "$sock"
        vt_start_qsd "$img" "$sock"
        vt_wait_qemu
        vt_check write idle verify-only
}
