#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Live migration of a guest whose disk is served by vu-sidecar: the source QEMU
# with sidecar A and the destination QEMU (-incoming) with sidecar B share one
# image (lock=running: each holds it only while its queues run). The guest keeps
# writing and reading while `migrate` runs over a unix socket; on the destination
# it checks every slot it wrote and every page the device read into its memory,
# which reach the destination only if sidecar A marked them in the dirty log.
# While the migration runs, `vuctl log` on A shows logging active and pages
# marked growing, and `vuctl monitor` reports the log's start and stop.

load lib/vutest
load lib/migrate

setup() {
        if [[ -z ${VU_SIDECAR:-} || -z ${VUCTL:-} ]]; then
                skip "VU_SIDECAR or VUCTL is unset: no vu-sidecar/vuctl target in this build"
        fi
        vt_setup
        img=$(vt_image 64)
}

teardown() {
        vt_cleanup
}

# log_sample NAME — one `vuctl -j log` of sidecar NAME as "active size pages_marked".
log_sample() {
        mt_vuctl "$1" -j log | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(int(j["active"]), j["log_size_bytes"], j["pages_marked"])'
}

@test "live migration: two sidecars on one image, the guest writes and reads throughout and verifies on the destination" {
        local args="vutest=run,verify vuw.secs=25 vuw.mib=16 vuw.cache-mib=48 vuw.seed=51"
        mt_sidecar sa "$VT_TMP/a.sock" "path=$img,lock=running"
        local pid_a=$MT_PID
        mt_sidecar sb "$VT_TMP/b.sock" "path=$img,lock=running"
        local pid_b=$MT_PID
        vt_spawn monitor-a "$VUCTL" --socket "$VT_TMP/sa.ctl" monitor
        mt_qemu src "$VT_TMP/a.sock" --args "$args"
        local src=$MT_PID
        mt_qemu dst "$VT_TMP/b.sock" --incoming "unix:$VT_TMP/migrate.sock" --args "$args"
        local dst=$MT_PID
        VT_WATCH_PID=$pid_a VT_WATCH_NAME=sa

        # Writes and reads are in flight (and data read into the cache) before the migration starts.
        mt_wait_tick src 3
        mt_qmp src hmp "migrate_set_parameter max-bandwidth 20g" >/dev/null
        mt_qmp src cmd migrate "{\"uri\":\"unix:$VT_TMP/migrate.sock\"}" >/dev/null

        # Sidecar A's dirty log while the migration runs (samples until the source stops).
        local samples=() s mstatus
        for ((i = 0; i < 100; i++)); do
                s=$(log_sample sa)
                samples+=("$s")
                mstatus=$(mt_qmp src cmd query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status"))')
                [[ $mstatus == active ]] || break
                sleep 0.2
        done
        run mt_qmp src wait-migration 120
        echo "$output"
        [[ $status -eq 0 ]]
        local total_ms ram
        total_ms=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get("total-time"))' "$output")
        ram=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1])["ram"]; print(j["transferred"] >> 20, j["dirty-sync-count"])' "$output")
        echo "# figure: migration: ${total_ms} ms, ${ram% *} MiB of RAM sent, ${ram#* } dirty-sync passes; log samples on A (active size pages): ${samples[*]}" >&3

        # Logging was on with a log sized for 512 MiB of guest memory, and A kept marking pages.
        local first=${samples[0]} last=${samples[-1]} grew=0 prev=-1 n
        for s in "${samples[@]}"; do
                [[ ${s%% *} == 1 ]] || { echo "dirty log not active in sample '$s' (samples: ${samples[*]})"; false; }
                n=${s##* }
                ((n > prev && prev >= 0)) && grew=1
                prev=$n
        done
        [[ $(cut -d' ' -f2 <<<"$first") -eq 16384 ]]
        if ((${#samples[@]} > 1)); then
                ((grew)) || { echo "pages marked never grew: ${samples[*]}"; false; }
        fi
        ((${last##* } > 0))
        run mt_vuctl sa log
        echo "$output"
        [[ $output == *"dirty log active"* ]]

        # The guest finishes on the destination: it wrote there too, then verified everything.
        VT_WATCH_PID=$pid_b VT_WATCH_NAME=sb
        mt_wait_exit "$dst" 120
        mt_verdicts dst
        mt_check run verify
        grep -q '^VUTEST: TICK' <<<"$output"
        local bytes
        bytes=$(mt_field '^VUTEST: PASS verify' bytes)
        echo "# figure: destination verified $bytes bytes ($(mt_field '^VUTEST: PASS verify' cache-bytes) of them in guest memory the device had written)" >&3
        ((bytes > 16777216))

        # B took the image over when the destination started its queues.
        grep -q 'queue 0 starts: image .* locked' "$VT_TMP/sb.log"
        grep -q 'no queue runs: image .* unlocked' "$VT_TMP/sa.log"

        # The source leaves; A's monitor saw the log start and stop.
        mt_qmp src cmd quit >/dev/null || true
        mt_wait_exit "$src" 20 || true
        for ((i = 0; i < 50; i++)); do
                grep -q 'log-stop' "$VT_TMP/monitor-a.log" && break
                sleep 0.1
        done
        cat "$VT_TMP/monitor-a.log"
        grep -q ' log-start ' "$VT_TMP/monitor-a.log"
        grep -q ' log-stop ' "$VT_TMP/monitor-a.log"

        vt_stop_clean "$pid_a" sa
        vt_stop_clean "$pid_b" sb
}

@test "live migration: without lock=running the destination's sidecar is refused the image; a bad lock= is named" {
        mt_sidecar sa "$VT_TMP/a.sock" "path=$img"
        run "$VU_SIDECAR" --blk "path=$img,socket=$VT_TMP/b.sock" --control none --runtime-dir "$VT_TMP"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"$img is in use by another process"* ]]
        run "$VU_SIDECAR" --blk "path=$img,socket=$VT_TMP/b.sock,lock=shared" --control none --runtime-dir "$VT_TMP"
        echo "$output"
        [[ $status -ne 0 ]]
        [[ $output == *"lock=shared: must be on, running or off"* ]]
        vt_stop_clean "$MT_PID" sa
}
