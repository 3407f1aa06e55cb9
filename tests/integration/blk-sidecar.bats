#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar as the vhost-user-blk backend of a real frontend: QEMU (TCG) boots
# the test guest, whose checker writes, verifies, flushes, discards and zeroes
# the disk and reports what a user of the disk would notice. The same
# scenarios as blk-qsd.bats (which proves the harness against
# qemu-storage-daemon), plus what only our daemon offers: read-only, the
# thread-pool I/O engine, socket activation, serial, packed rings. Every test
# ends with a SIGTERM that must stop the sidecar cleanly (exit 0, no sanitizer
# report).

load lib/vutest

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: no vu-sidecar target in this build (ctest sets it when sidecar/ builds)"
        fi
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

@test "sidecar: the guest writes a pattern, reads it back (O_DIRECT and buffered), sees capacity and serial" {
        vt_start_sidecar "$sock" "path=$img,id=data0,serial=SN-0042"
        run qemu_boot_blk "$sock" \
                --args "vutest=capacity,serial,write,verify vutest.sectors=131072 vutest.serial=SN-0042 vutest.seed=21"
        vt_check capacity serial write verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: fsync reaches the device, discard and write-zeroes clear exactly the range" {
        vt_start_sidecar "$sock" "path=$img"
        run qemu_boot_blk "$sock" --args "vutest=write,flush,discard,zeroes,verify vutest.seed=22"
        vt_check write flush discard zeroes verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: 2 queues and 2 vCPUs, both queues carry I/O" {
        vt_start_sidecar "$sock" "path=$img,queues=2"
        run qemu_boot_blk "$sock" --smp 2 --args "vutest=mq,write,verify vutest.queues=2 vutest.seed=23"
        vt_check mq write verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: QEMU stopped and started again against the same running sidecar finds the data" {
        vt_start_sidecar "$sock" "path=$img"
        run qemu_boot_blk "$sock" --args "vutest=write,verify vutest.seed=24"
        vt_check write verify
        run qemu_boot_blk "$sock" --args "vutest=verify-only vutest.seed=24"
        vt_check verify-only
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: QEMU killed while the guest holds the disk, a new QEMU finds the data" {
        vt_start_sidecar "$sock" "path=$img"
        qemu_boot_blk "$sock" --bg --args "vutest=write,idle vutest.seed=25 vutest.idle-secs=60"
        vt_wait_console '^VUTEST: IDLE begin' 90
        grep -q '^VUTEST: PASS write' "$VT_CONSOLE"
        kill -KILL "$VT_QEMU_PID"
        run qemu_boot_blk "$sock" --args "vutest=verify-only vutest.seed=25"
        vt_check verify-only
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: restarted while QEMU (reconnect=1) idles, the guest then finds its data" {
        vt_start_sidecar "$sock" "path=$img"
        qemu_boot_blk "$sock" --bg --reconnect \
                --args "vutest=write,idle,verify-only vutest.seed=26 vutest.idle-secs=10"
        vt_wait_console '^VUTEST: IDLE begin' 90
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
        rm -f "$sock"
        vt_start_sidecar "$sock" "path=$img"
        vt_wait_qemu
        vt_check write idle verify-only
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: a read-only device refuses writes and keeps the data" {
        vt_start_sidecar "$sock" "path=$img"
        run qemu_boot_blk "$sock" --args "vutest=write vutest.seed=27"
        vt_check write
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
        rm -f "$sock"
        vt_start_sidecar "$sock" "path=$img,read-only=on"
        run qemu_boot_blk "$sock" --args "vutest=readonly,verify-only vutest.seed=27"
        vt_check readonly verify-only
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: --io-engine threads serves the same guest checks" {
        vt_start_sidecar "$sock" "path=$img,queues=2" --io-engine threads
        run qemu_boot_blk "$sock" --smp 2 \
                --args "vutest=write,verify,flush,discard,zeroes,mq vutest.queues=2 vutest.seed=28"
        vt_check write verify flush discard zeroes mq
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: started by systemd-socket-activate with the fd named vhost-user" {
        vt_start_activated "$sock" "path=$img"
        run qemu_boot_blk "$sock" --args "vutest=write,verify,flush vutest.seed=29"
        vt_check write verify flush
        # systemd-socket-activate execs the sidecar, so the pid we hold is the sidecar's.
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: packed virtqueues are negotiated and carry the data" {
        vt_start_sidecar "$sock" "path=$img"
        run qemu_boot_blk "$sock" --packed --args "vutest=packed,write,verify vutest.seed=30"
        vt_check packed write verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: the whole disk with a 1024-entry queue" {
        vt_start_sidecar "$sock" "path=$img,queue-size=1024"
        run qemu_boot_blk "$sock" --queue-size 1024 --args "vutest=write,verify vutest.mib=0 vutest.seed=31"
        vt_check write verify
        grep -q '^VUTEST: PASS verify bytes=67108864 ' <<<"$output"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: mode=client connects to a QEMU that listens on the socket" {
        qemu_boot_blk "$sock" --bg --server --args "vutest=write,verify vutest.seed=32"
        vt_wait_socket "$sock" "$VT_QEMU_PID"
        vt_start_sidecar "$sock" "path=$img,mode=client"
        vt_wait_qemu
        vt_check write verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "sidecar: iops=200 caps what the guest gets from 4 KiB random reads" {
        vt_start_sidecar "$sock" "path=$img,iops=200"
        run qemu_boot_blk "$sock" --args "vutest=bench vutest.bench-secs=3 vutest.bench-mib=16"
        vt_check bench
        local iops
        iops=$(sed -n 's/^VUTEST-BENCH: name=randread-4k .* iops=\([0-9]*\).*/\1/p' <<<"$output")
        echo "# figure: randread-4k: $iops IOPS with iops=200" >&3
        # A token bucket may let one second's worth through at once: 3 s at 200/s plus a
        # 200 burst averages 267; anything past 300 means the limit is not applied.
        ((iops > 0 && iops <= 300))
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
