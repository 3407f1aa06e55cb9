#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash recovery with inflight tracking: while the guest keeps writes and reads
# in flight (vutest-writer), the test SIGKILLs the sidecar several times and
# starts it again on the same socket. QEMU (reconnect=1) reconnects and hands
# the new sidecar the inflight buffer, from which it resubmits the requests the
# dead one had taken but not completed. The guest must finish with no I/O error
# and find every write it saw complete, and every page it read, intact.

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

# flushed — the last generation the guest flushed, from its console (0 if none yet).
flushed() {
        local g
        g=$(tr -d '\r' <"$VT_TMP/guest-console.log" | grep -Eo '^VUTEST: FLUSHED gen=[0-9]+' | tail -n 1 | cut -d= -f2)
        echo "${g:-0}"
}

# wait_progress GEN SECS — until the guest has flushed a generation beyond GEN.
wait_progress() {
        local gen=$1 secs=$2 i
        for ((i = 0; i < secs * 10; i++)); do
                (($(flushed) > gen)) && return 0
                vt_alive "$qemu" || { echo "QEMU exited while waiting for the guest to get past gen $gen" >&2; return 1; }
                sleep 0.1
        done
        echo "the guest made no progress past gen $gen in $secs s" >&2
        tr -d '\r' <"$VT_TMP/guest-console.log" | tail -n 5 >&2
        return 1
}

@test "crash recovery: the sidecar is SIGKILLed 4 times under a writing guest, which loses nothing" {
        local kills=4 k gen resubmitted=0 n spec
        # An I/O limit on every other sidecar keeps requests waiting inside it, so its kill
        # certainly catches some; the others are killed with requests in io_uring, if any.
        mt_sidecar sc-0 "$sock" "path=$img,iops=400"
        local pid=$MT_PID
        mt_qemu guest "$sock" --reconnect \
                --args "vutest=run,verify vuw.secs=24 vuw.mib=8 vuw.cache-mib=16 vuw.threads=4 vuw.seed=61"
        qemu=$MT_PID
        mt_wait_tick guest 2

        for ((k = 1; k <= kills; k++)); do
                # Let a little I/O build up, at a different moment in each round.
                sleep "0.$((RANDOM % 9 + 1))"
                mt_kill9 "$pid"
                # No round can end without the backend: progress past the next one needs the new sidecar.
                gen=$(flushed)
                echo "# kill $k at gen $gen" >&3
                spec=path=$img
                ((k % 2)) || spec+=,iops=400
                mt_sidecar "sc-$k" "$sock" "$spec"
                pid=$MT_PID
                # QEMU reconnects within its 1 s retry; then the guest must move on.
                wait_progress "$((gen + 1))" 60
                grep -q 'frontend connected' "$VT_TMP/sc-$k.log"
        done

        mt_wait_exit "$qemu" 120
        mt_verdicts guest
        mt_check run verify

        # Requests the killed sidecars had in flight were handed to their successors.
        for ((k = 1; k <= kills; k++)); do
                n=$(grep -Eo '[0-9]+ inflight chains to resubmit' "$VT_TMP/sc-$k.log" | awk '{ s += $1 } END { print s + 0 }')
                echo "# sidecar $k resubmitted $n request(s) its predecessor had in flight" >&3
                resubmitted=$((resubmitted + n))
        done
        ((resubmitted > 0))

        local bytes
        bytes=$(mt_field '^VUTEST: PASS verify' bytes)
        echo "# figure: kills survived: $kills, bytes verified: $bytes" >&3
        ((bytes >= 8388608))
        # (run: a bare "! cmd" never fails a bats test)
        run grep -Eq 'AddressSanitizer|runtime error:' "$VT_TMP"/sc-*.log
        [[ $status == 1 ]]
        vt_stop_clean "$pid" "sc-$kills"
}
