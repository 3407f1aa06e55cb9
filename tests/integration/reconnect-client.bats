#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Client mode: QEMU listens (-chardev socket,server=on,wait=off) and the sidecar
# (mode=client) connects to it. The sidecar starts first and waits with its
# backoff; QEMU comes, runs a writing guest, and is killed mid-run; the sidecar keeps
# retrying until a new QEMU listens on the same path, then serves it, and the
# new guest finds every write the first one flushed.

load lib/vutest
load lib/migrate

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: no vu-sidecar target in this build"
        fi
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/qemu-vu.sock
}

teardown() {
        vt_cleanup
}

@test "client mode: the sidecar connects to QEMU, and after QEMU is gone reconnects to a new one" {
        local args="vuw.mib=8 vuw.cache-mib=8 vuw.seed=81"
        mt_sidecar sc "$sock" "path=$img,mode=client"
        local pid=$MT_PID
        # Nobody listens yet: the sidecar must wait, not exit.
        sleep 1
        vt_alive "$pid"
        grep -q "not ready" "$VT_TMP/sc.log"

        mt_qemu first "$sock" --server --args "vutest=run,verify vuw.secs=60 $args"
        mt_wait_tick first 2
        [[ $(grep -c 'frontend connected' "$VT_TMP/sc.log") -eq 1 ]]
        # QEMU dies mid-run (its socket file stays behind, refusing connections).
        mt_kill9 "$MT_PID"
        local gen
        gen=$(tr -d '\r' <"$VT_TMP/first-console.log" | grep -Eo '^VUTEST: FLUSHED gen=[0-9]+' | tail -n 1 | cut -d= -f2)
        ((gen > 0))

        # QEMU is gone: the sidecar keeps trying (with a growing delay) and stays up.
        sleep 3
        vt_alive "$pid"
        grep -q "disconnected" "$VT_TMP/sc.log"

        # A new QEMU on the same path gets the device and the data the first guest wrote.
        mt_qemu second "$sock" --server --args "vutest=verify-disk,run,verify vuw.rounds=2 vuw.min-gen=$gen vuw.max-gen=$((gen + 1)) $args"
        mt_wait_exit "$MT_PID" 120
        mt_verdicts second
        mt_check verify-disk run verify
        [[ $(grep -c 'frontend connected' "$VT_TMP/sc.log") -eq 2 ]]
        echo "# the sidecar served 2 QEMUs in turn as a client; the second verified $(mt_field '^VUTEST: PASS verify-disk' bytes) bytes the first wrote" >&3
        vt_stop_clean "$pid" sc
}
