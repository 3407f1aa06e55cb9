#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Crash recovery on packed rings: crash-inflight.bats's scenario with QEMU's
# vhost-user-blk-pci packed=on. While the guest keeps writes and reads in
# flight, the sidecar is SIGKILLed several times and started again; QEMU
# (reconnect=1) hands each successor the inflight buffer in its packed layout,
# from which the successor resubmits what its predecessor had taken. Every
# sidecar must have served packed rings with inflight tracking on (no "runs
# untracked" warning), and the guest must lose no write it saw complete.
# QEMU 7.2 sends SET_FEATURES before GET_INFLIGHT_FD (vhost_dev_prepare_inflight), so
# the buffer it asks for is already laid out for packed rings.

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

# served_packed NAME — sidecar NAME started its queue on a packed ring, tracking what was in flight.
served_packed() {
        local log=$VT_TMP/$1.log
        if ! grep -q 'queue 0 started (packed' "$log"; then
                echo "$1 never started a packed queue:" >&2
                grep -E 'started|features' "$log" | tail -n 5 >&2
                return 1
        fi
        if grep -Eq 'runs untracked|no longer tracking' "$log"; then
                echo "$1 ran its packed ring without inflight tracking:" >&2
                grep -E 'untracked|no longer tracking' "$log" >&2
                return 1
        fi
}

@test "packed crash recovery: the sidecar is SIGKILLed 4 times under a writing guest, which loses nothing" {
        local kills=4 k gen resubmitted=0 n spec
        # An I/O limit on every other sidecar keeps requests waiting inside it, so its kill
        # certainly catches some.
        mt_sidecar sc-0 "$sock" "path=$img,iops=400"
        local pid=$MT_PID
        mt_qemu guest "$sock" --reconnect --packed \
                --args "vutest=run,verify vuw.secs=24 vuw.mib=8 vuw.cache-mib=16 vuw.threads=4 vuw.seed=71"
        qemu=$MT_PID
        mt_wait_tick guest 2
        served_packed sc-0

        for ((k = 1; k <= kills; k++)); do
                sleep "0.$((RANDOM % 9 + 1))"
                mt_kill9 "$pid"
                gen=$(flushed)
                echo "# kill $k at gen $gen" >&3
                spec=path=$img
                ((k % 2)) || spec+=,iops=400
                mt_sidecar "sc-$k" "$sock" "$spec"
                pid=$MT_PID
                wait_progress "$((gen + 1))" 60
                grep -q 'frontend connected' "$VT_TMP/sc-$k.log"
                served_packed "sc-$k"
        done

        mt_wait_exit "$qemu" 120
        mt_verdicts guest
        mt_check run verify

        # The successors resubmitted, from the packed inflight buffer, what their predecessors had taken.
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
