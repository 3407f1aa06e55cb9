#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Restarting one side while the other keeps running, under a guest that keeps
# I/O in flight (vutest-writer):
# - the sidecar stopped with SIGTERM (it must finish what it has and exit 0) and
#   started again, twice, while QEMU (reconnect=1) and the guest run on;
# - QEMU killed mid-run and started again against the same sidecar process,
#   which serves the new guest: it finds every flushed write and writes on.

load lib/vutest
load lib/migrate

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: no vu-sidecar target in this build"
        fi
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

# flushed NAME — the last generation the guest on console NAME flushed (0 if none yet).
flushed() {
        local g
        g=$(tr -d '\r' <"$VT_TMP/$1-console.log" | grep -Eo '^VUTEST: FLUSHED gen=[0-9]+' | tail -n 1 | cut -d= -f2)
        echo "${g:-0}"
}

# wait_gen NAME GEN SECS — until the guest on console NAME has flushed a generation beyond GEN.
wait_gen() {
        local i
        for ((i = 0; i < $3 * 10; i++)); do
                (($(flushed "$1") > $2)) && return 0
                sleep 0.1
        done
        echo "the guest made no progress past gen $2 in $3 s" >&2
        tr -d '\r' <"$VT_TMP/$1-console.log" | tail -n 5 >&2
        return 1
}

@test "graceful restart: the sidecar is stopped (SIGTERM) and started twice under a writing guest" {
        local k gen
        mt_sidecar sc-0 "$sock" "path=$img"
        local pid=$MT_PID
        mt_qemu guest "$sock" --reconnect --args "vutest=run,verify vuw.secs=12 vuw.mib=8 vuw.cache-mib=16 vuw.seed=71"
        local qemu=$MT_PID
        mt_wait_tick guest 2
        for k in 1 2; do
                # It must drain what it took and exit 0 (no sanitizer report) while the guest writes on.
                vt_stop_clean "$pid" "sc-$((k - 1))"
                grep -q 'Received SIGTERM' "$VT_TMP/sc-$((k - 1)).log"
                gen=$(flushed guest)
                mt_sidecar "sc-$k" "$sock" "path=$img"
                pid=$MT_PID
                wait_gen guest "$((gen + 1))" 60
                echo "# restart $k at gen $gen: the guest resumed" >&3
        done
        mt_wait_exit "$qemu" 120
        mt_verdicts guest
        mt_check run verify
        echo "# graceful restarts survived: 2, bytes verified: $(mt_field '^VUTEST: PASS verify' bytes)" >&3
        vt_stop_clean "$pid" sc-2
}

@test "frontend restart: QEMU is killed mid-run, a new QEMU against the same sidecar finds every flushed write" {
        mt_sidecar sc "$sock" "path=$img"
        local pid=$MT_PID gen
        mt_qemu first "$sock" --args "vutest=run,verify vuw.secs=60 vuw.mib=8 vuw.cache-mib=8 vuw.seed=72"
        local qemu=$MT_PID
        mt_wait_tick first 3
        mt_kill9 "$qemu"
        # Round gen+1 may have written part of the disk; round gen+2 cannot have begun.
        gen=$(flushed first)
        ((gen > 0))
        echo "# QEMU killed after gen $gen was flushed" >&3

        mt_qemu second "$sock" --args "vutest=verify-disk,run,verify vuw.secs=2 vuw.mib=8 vuw.cache-mib=8 vuw.seed=72 vuw.min-gen=$gen vuw.max-gen=$((gen + 1))"
        qemu=$MT_PID
        mt_wait_exit "$qemu" 120
        mt_verdicts second
        mt_check verify-disk run verify
        echo "# second QEMU verified $(mt_field '^VUTEST: PASS verify-disk' bytes) bytes left by the first, then wrote and verified $(mt_field '^VUTEST: PASS verify' bytes)" >&3

        # One sidecar process served both, one after the other.
        vt_alive "$pid"
        [[ $(grep -c 'frontend connected' "$VT_TMP/sc.log") -eq 2 ]]
        vt_stop_clean "$pid" sc
}
