#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl log during a real QEMU live migration: the guest program vutest-ctl
# keeps sequential O_DIRECT reads in flight, so the device keeps writing guest
# memory, which the source sidecar must mark in the dirty log QEMU handed it
# (SET_LOG_BASE). vuctl log must show no log before, the log active with
# LOG_ALL, the ring logging and pages marked growing while QEMU migrates, and
# the log stopped (with its times) once the source QEMU is gone. The
# migration helpers are lib/migrate.bash's; the migration's own correctness is
# migrate-live.bats's business.

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

# log_json NAME FILE — `vuctl -j log` of sidecar NAME into $VT_TMP/FILE.
log_json() {
        mt_vuctl "$1" -j log >"$VT_TMP/$2"
}

@test "control: vuctl log shows the dirty log active and pages marked growing during a real QEMU migration, stopped after" {
        # 256 KiB reads into 256 buffers in turn (64 MiB of guest memory), paced to 20 a
        # second by the source sidecar: the device writes ~1300 new guest pages a second.
        local args="vutest.prog=vutest-ctl vutest=write:16:1,seq:600:r vuc.seq-mib=16 vuc.bufs=256"
        mt_sidecar sa "$VT_TMP/a.sock" "path=$img,lock=running,iops=20"
        local pid_a=$MT_PID
        mt_sidecar sb "$VT_TMP/b.sock" "path=$img,lock=running"
        local pid_b=$MT_PID
        mt_qemu src "$VT_TMP/a.sock" --args "$args"
        local src=$MT_PID
        mt_qemu dst "$VT_TMP/b.sock" --incoming "unix:$VT_TMP/migrate.sock" --args "$args"
        local dst=$MT_PID
        VT_WATCH_PID=$pid_a VT_WATCH_NAME=sa
        mt_wait_console src '^VUTEST: SEQ begin' 90

        # No migration yet: no log.
        log_json sa before.json
        python3 - "$VT_TMP/before.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j['active'] is False and j['log_all'] is False and j['pages_marked'] == 0 and j['rings_logging'] == 0, j
assert j['started_realtime_usec'] is None, j
EOF

        # A slow link (16 MiB/s) keeps the migration running for seconds: time to look.
        mt_qmp src hmp "migrate_set_parameter max-bandwidth 16m" >/dev/null
        mt_qmp src cmd migrate "{\"uri\":\"unix:$VT_TMP/migrate.sock\"}" >/dev/null
        local i n=0 mstatus
        for ((i = 0; i < 300; i++)); do
                mstatus=$(mt_qmp src cmd query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin).get("status"))')
                [[ $mstatus == active ]] || break
                log_json sa "during-$n.json"
                n=$((n + 1))
                sleep 0.3
        done
        run mt_qmp src wait-migration 120
        [[ $status -eq 0 ]] || { echo "$output"; false; }
        echo "# $n samples of vuctl log while the migration was active" >&3
        ((n >= 3))
        python3 - "$VT_TMP" "$n" <<'EOF'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
s = [json.load(open(f'{d}/during-{i}.json')) for i in range(n)]
# The last sample may be taken as QEMU switches over; every earlier one sees the log running.
for x in s[:-1]:
    assert x['active'] is True and x['log_all'] is True, f'log not active with LOG_ALL during the migration: {x}'
    assert x['rings_logging'] == 1, f'rings_logging {x["rings_logging"]} with one queue: {x}'
    assert x['log_size_bytes'] == 16384, f'log size {x["log_size_bytes"]} for 512 MiB of 4 KiB pages (1 bit each)'
    assert x['started_realtime_usec'] is not None
pages = [x['pages_marked'] for x in s]
writes = [x['log_writes'] for x in s]
assert pages == sorted(pages) and writes == sorted(writes), f'counters went backwards: {pages} {writes}'
assert pages[-1] > pages[0] and writes[-1] > writes[0], f'pages marked did not grow while the guest read: {pages}'
print(f'# pages marked {pages[0]} -> {pages[-1]}, logged writes {writes[0]} -> {writes[-1]}', file=sys.stderr)
EOF
        mt_vuctl sa log >"$VT_TMP/during.txt"
        cat "$VT_TMP/during.txt"

        # The source QEMU leaves: the log ends, its times and counters stay readable.
        mt_qmp src cmd quit >/dev/null || true
        mt_wait_exit "$src" 20 || true
        for ((i = 0; i < 50; i++)); do
                log_json sa after.json
                grep -q '"active":false' "$VT_TMP/after.json" && break
                sleep 0.1
        done
        python3 - "$VT_TMP/after.json" "$VT_TMP/during-$((n - 2)).json" <<'EOF'
import json, sys
a, d = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert a['active'] is False, f'log still active after the source QEMU left: {a}'
assert a['stopped_realtime_usec'] is not None and a['stopped_realtime_usec'] >= a['started_realtime_usec'], a
assert a['pages_marked'] >= d['pages_marked'], f'pages marked went down after the log stopped: {a}'
EOF
        run mt_vuctl sa log
        echo "$output"
        [[ $status -eq 0 ]]
        [[ $output != *"dirty log active"* ]]

        # The guest carries on at the destination.
        VT_WATCH_PID=$pid_b VT_WATCH_NAME=sb
        kill -TERM "$dst"
        mt_wait_exit "$dst" 20 || true
        vt_stop_clean "$pid_a" sa
        vt_stop_clean "$pid_b" sb
}
