#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl monitor against a real frontend: while QEMU (TCG) boots the test
# guest on a disk served by vu-sidecar, does I/O and powers off, twice, the
# event stream shows each connection's life in order — connect (with QEMU's
# pid), negotiated, queue-start, queue-stop, disconnect — with increasing
# sequence numbers, in JSON (-j) and in the table a person reads.

load lib/vutest
load control-lib

setup() {
        if [[ -z ${VU_SIDECAR:-} || -z ${VUCTL:-} ]]; then
                skip "VU_SIDECAR or VUCTL is unset: no vu-sidecar/vuctl target in this build"
        fi
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

# wait_log FILE PATTERN [N] — waits (20 s) until N (default 1) lines of a log file match a regex.
wait_log() {
        local i
        for ((i = 0; i < 200; i++)); do
                (($(grep -Ec "$2" "$1" 2>/dev/null) >= ${3:-1})) && return 0
                sleep 0.1
        done
        echo "$1 did not show ${3:-1} lines matching /$2/ within 20 s; it holds:" >&2
        cat "$1" >&2
        return 1
}

@test "control: vuctl monitor streams connect, negotiated, queue-start, queue-stop, disconnect as QEMU boots and powers off" {
        vt_start_sidecar "$sock" "path=$img"
        vt_spawn monitor-json "$VUCTL" --socket "$VT_TMP/control.sock" -j monitor
        local mon_json=$VT_LAST_PID
        vt_spawn monitor-table "$VUCTL" --socket "$VT_TMP/control.sock" monitor
        local mon_table=$VT_LAST_PID
        wait_log "$VT_TMP/monitor-json.log" '"subscribed"'
        wait_log "$VT_TMP/monitor-table.log" '^Monitoring every device'

        local pids=() boot
        for boot in 1 2; do
                qemu_boot_blk "$sock" --bg --args "vutest.prog=vutest-ctl vutest=write:1:$boot,read:1:$boot"
                pids+=("$VT_QEMU_PID")
                vt_wait_qemu
                vt_check write read
                wait_log "$VT_TMP/monitor-json.log" '"event":"disconnect"' "$boot"
        done

        python3 - "$VT_TMP/monitor-json.log" "${pids[@]}" <<'EOF'
import json, re, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
pids = sys.argv[2:]
assert events[0]['event'] == 'subscribed', events[0]
seqs = [e['seq'] for e in events[1:]]
assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), f'sequence numbers not increasing: {seqs}'
times = [e['realtime_usec'] for e in events[1:]]
assert times == sorted(times), 'event times go backwards'
life = [e for e in events if e['event'] in ('connect', 'negotiated', 'queue-start', 'queue-stop', 'disconnect')]
assert all(e['device'] == 'blk0' for e in life), [e for e in life if e['device'] != 'blk0']
# One letter per event, so the order of a connection's life is a regular expression.
letters = ''.join({'connect': 'c', 'negotiated': 'n', 'queue-start': 's', 'queue-stop': 't', 'disconnect': 'd'}[e['event']] for e in life)
print('# events: ' + letters, file=sys.stderr)
conns = re.fullmatch(r'(c[ns]*n[ns]*s[nst]*t[nst]*d)(c[ns]*n[ns]*s[nst]*t[nst]*d)', letters)
assert conns, f'event order {letters} is not two of connect, negotiated.., queue-start.., queue-stop.., disconnect'
connects = [e for e in life if e['event'] == 'connect']
for e, pid in zip(connects, pids):
    assert f'pid {pid} ' in e['message'] + ' ', f'connect event does not name QEMU pid {pid}: {e["message"]}'
neg = [e['message'] for e in life if e['event'] == 'negotiated']
assert any('VERSION_1' in m for m in neg), f'no negotiated event names the virtio features: {neg}'
EOF

        # The table: one line per event, with its name and device.
        cat "$VT_TMP/monitor-table.log"
        [[ $(grep -c ' connect ' "$VT_TMP/monitor-table.log") -eq 2 ]]
        [[ $(grep -c ' disconnect ' "$VT_TMP/monitor-table.log") -eq 2 ]]
        grep -q ' queue-start .*blk0\|blk0.* queue-start ' "$VT_TMP/monitor-table.log"

        # Stopping the sidecar ends both streams: the last event they show is "stopping".
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
        ct_wait_pid "$mon_json" 10
        ct_wait_pid "$mon_table" 10
        grep -q '"stopping"' "$VT_TMP/monitor-json.log"
}
