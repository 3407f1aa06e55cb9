#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket read against a real guest: QEMU (TCG) boots the test
# guest on a disk served by vu-sidecar, the guest program vutest-ctl does
# exactly counted O_DIRECT I/O and prints its own kernel's disk statistics,
# and vuctl's counters, queue state and ring dumps must agree with them: bytes
# in each direction, requests by type, used_idx against completions, nothing
# in flight when idle, reset-stats, and descriptors of requests the device
# holds decoded as virtio-blk lays them out (16-byte header, data, 1-byte
# status).

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

@test "control: counters agree with the guest's own disk statistics, per queue and in total; reset-stats zeroes them" {
        vt_start_sidecar "$sock" "path=$img,queues=2"
        # 8 MiB written and 4 MiB read back with O_DIRECT, then quiet; then 2 MiB more after a
        # quiet spell long enough for the host to check and reset the counters.
        ct_boot "$sock" "stat:boot,write:8:5,read:4:5,stat:io,idle:12,write:2:6,stat:more,idle:120" \
                --queues 2 --smp 2
        vt_wait_console '^VUTEST: IDLE begin' 90
        ct_save stats1.json stats
        ct_save queues1.json queues
        local rd_ios rd_sec wr_ios wr_sec fl_ios
        rd_ios=$(ct_field io rd_ios) rd_sec=$(ct_field io rd_sectors)
        wr_ios=$(ct_field io wr_ios) wr_sec=$(ct_field io wr_sectors) fl_ios=$(ct_field io fl_ios)
        echo "# figure: guest kernel: $rd_ios reads ($rd_sec sectors), $wr_ios writes ($wr_sec sectors), $fl_ios flushes" >&3
        ct_py stats1.json queues1.json -- "
rd_ios, rd_sec, wr_ios, wr_sec, fl_ios = $rd_ios, $rd_sec, $wr_ios, $wr_sec, $fl_ios
s, q = j[0]['devices'][0], j[1]['queues']
t, d = s['totals'], s['device_counters']
print('# sidecar totals:', t, file=sys.stderr)
print('# sidecar device counters:', d, file=sys.stderr)
assert len(s['queues']) == 2 and len(q) == 2, 'expected 2 queues'
# Totals are the sums of the queues, for the library's and the device's counters.
for k, v in t.items():
    assert v == sum(x[k] for x in s['queues']), f'totals.{k}={v} is not the sum of the queues'
for k in ('requests_read', 'requests_write', 'backend_to_guest_data_bytes', 'guest_to_backend_data_bytes'):
    assert d[k] == sum(x['device_counters'][k] for x in s['queues']), f'device_counters.{k} is not the sum of the queues'
# Idle: nothing popped and not pushed, nothing in flight, the guest's rings and ours agree.
for x in q:
    i = x['index']
    assert x['in_use'] == 0 and x['inflight'] == 0, f'queue {i} idle but in_use={x[\"in_use\"]} inflight={x[\"inflight\"]}'
    assert x['used_idx'] == x['ring_used_idx'] == x['last_avail_idx'] == x['avail_idx'], f'queue {i} indexes disagree: {x}'
assert d['in_flight'] == 0, f'in_flight gauge {d[\"in_flight\"]} while idle'
# The guest kernel's rings started at 0 when its driver set the queues up, so the used
# indexes count exactly the requests the guest kernel completed (mod 65536, no wrap here).
guest_reqs = rd_ios + wr_ios + fl_ios
used = sum(x['used_idx'] for x in q)
assert used == guest_reqs, f'used_idx sum {used} != {guest_reqs} requests the guest kernel completed'
# Before the kernel, the firmware (SeaBIOS) probed the disk on queue 0 with one-sector reads:
# chains the library counted since the frontend connected, beyond the kernel's ring.
fw = t['backend_to_guest_chains'] - used
assert 0 <= fw <= 4, f'{fw} chains beyond what the guest kernel did (firmware probe expected: 0..4)'
assert s['queues'][1]['backend_to_guest_chains'] == q[1]['used_idx'], 'queue 1 carried requests the kernel did not make'
assert t['guest_to_backend_chains'] == t['backend_to_guest_chains'], 'chains popped but never pushed'
# Writes: only the guest program wrote, exactly 8 MiB, in the requests the guest kernel counted.
assert d['requests_write'] == wr_ios, f'requests_write {d[\"requests_write\"]} != guest wr_ios {wr_ios}'
assert d['guest_to_backend_data_bytes'] == wr_sec * 512 == 8 << 20, f'guest_to_backend_data_bytes {d[\"guest_to_backend_data_bytes\"]}, guest wrote {wr_sec * 512}'
# Reads: 4 MiB of the program, the kernel's partition scan (in the guest's count), the firmware's sectors.
assert d['requests_read'] == rd_ios + fw, f'requests_read {d[\"requests_read\"]} != guest {rd_ios} + firmware {fw}'
assert d['backend_to_guest_data_bytes'] == rd_sec * 512 + fw * 512, f'backend_to_guest_data_bytes {d[\"backend_to_guest_data_bytes\"]} != guest {rd_sec * 512} + firmware {fw * 512}'
assert rd_sec * 512 >= 4 << 20, 'the guest read less than its 4 MiB'
assert d['requests_flush'] == fl_ios and d['status_ok'] == t['backend_to_guest_chains'], 'flushes or statuses disagree'
assert d['status_ioerr'] == 0 and t['malformed_chains'] == 0
# Chain bytes: each request's 16-byte header goes guest->backend with the write data; the
# 1-byte status comes back with the read data.
n = t['backend_to_guest_chains']
assert t['guest_to_backend_bytes'] == 16 * n + d['guest_to_backend_data_bytes'], f'guest_to_backend_bytes {t[\"guest_to_backend_bytes\"]} != 16*{n} + data'
assert t['backend_to_guest_bytes'] == n + d['backend_to_guest_data_bytes'], f'backend_to_guest_bytes {t[\"backend_to_guest_bytes\"]} != {n} + data'
assert t['kicks'] > 0 and t['calls_sent'] > 0
print(f'# partition scan and firmware: {rd_sec * 512 - (4 << 20)} + {fw * 512} bytes read besides the program\'s 4 MiB', file=sys.stderr)
"

        # The table a person reads shows the same totals.
        run ct_vuctl stats
        echo "$output"
        [[ $status -eq 0 ]]
        [[ $output == *"8.00 MiB"* ]]

        # reset-stats zeroes every counter; the ring state is not a counter and stays.
        run ct_vuctl reset-stats
        echo "$output"
        [[ $status -eq 0 ]]
        ct_save stats2.json stats
        ct_save queues2.json queues
        ct_py stats2.json queues1.json queues2.json -- "
s = j[0]['devices'][0]
for k, v in s['totals'].items():
    assert v == 0, f'totals.{k}={v} after reset-stats'
for k in ('requests_read', 'requests_write', 'status_ok', 'backend_to_guest_data_bytes', 'guest_to_backend_data_bytes', 'latency_usec_total'):
    assert s['device_counters'][k] == 0, f'device_counters.{k}={s[\"device_counters\"][k]} after reset-stats'
assert [x['used_idx'] for x in j[1]['queues']] == [x['used_idx'] for x in j[2]['queues']], 'reset-stats moved used_idx'
"
        grep -q '^VUTEST: STAT tag=more' "$VT_CONSOLE" && {
                echo "the guest went on before the reset was checked: the test's quiet spell is too short" >&2
                false
        }

        # After the reset the counters hold exactly what the guest did since.
        vt_wait_console '^VUTEST: STAT tag=more' 60
        vt_wait_console '^VUTEST: IDLE begin secs=120' 30
        ct_save stats3.json stats
        ct_save queues3.json queues
        local wr_ios2 wr_sec2 rd_ios2
        wr_ios2=$(($(ct_field more wr_ios) - wr_ios)) wr_sec2=$(($(ct_field more wr_sectors) - wr_sec))
        rd_ios2=$(($(ct_field more rd_ios) - rd_ios))
        ct_py stats3.json queues1.json queues3.json -- "
s = j[0]['devices'][0]
t, d = s['totals'], s['device_counters']
assert d['requests_write'] == $wr_ios2 and d['guest_to_backend_data_bytes'] == $wr_sec2 * 512 == 2 << 20, f'after reset: {d}'
assert d['requests_read'] == $rd_ios2 == 0, f'reads after reset: {d[\"requests_read\"]} (guest: $rd_ios2)'
moved = sum(b['used_idx'] - a['used_idx'] for a, b in zip(j[1]['queues'], j[2]['queues']))
assert t['backend_to_guest_chains'] == moved == $wr_ios2, f'chains {t[\"backend_to_guest_chains\"]}, used_idx moved {moved}, guest wrote {$wr_ios2} requests'
assert t['guest_to_backend_bytes'] == 16 * moved + (2 << 20)
"
        grep -q '^VUTEST: FAIL' "$VT_CONSOLE" && { tr -d '\r' <"$VT_CONSOLE" | grep VUTEST; false; }
        ct_stop_all
}

@test "control: dump decodes the descriptors of requests the device holds (header 16, data, status 1 WRITE)" {
        # iops=2 keeps the guest's 4 requests in the ring long enough to read them there.
        vt_start_sidecar "$sock" "path=$img,iops=2"
        ct_boot "$sock" "seq:8:w,seq:8:r" --timeout 180
        local dir flag_data
        for dir in w r; do
                vt_wait_console "^VUTEST: SEQ begin dir=$dir" 90
                sleep 1
                # The guest resubmits as soon as one completes: look until a dump catches all 4.
                local found=0 try
                for ((try = 0; try < 10 && !found; try++)); do
                        ct_save dump.json dump 0 --count 1024
                        ct_save queues.json queues
                        if ct_py dump.json -- "
d = j[0]
sys.exit(0 if (d['avail']['idx'] - d['used']['idx']) % 65536 == 4 else 1)"; then
                                found=1
                        else
                                sleep 0.2
                        fi
                done
                ((found)) || { echo "no dump showed the guest's 4 requests in flight"; cat "$VT_TMP/dump.json" | head -c 2000; false; }
                # Reads: the device writes the data buffers (WRITE); writes: it only reads them.
                [[ $dir == r ]] && flag_data=3 || flag_data=1
                ct_py dump.json queues.json -- "
d, q = j[0], j[1]['queues'][0]
size = d['size']
assert d['packed'] is False and d['count'] == size, f'dump of {d[\"count\"]} of {size} descriptors'
desc = {x['index']: x for x in d['descriptors']}
ring = {x['slot']: x['head'] for x in d['avail']['ring']}
heads = [ring[s % size] for s in range(d['used']['idx'], d['used']['idx'] + 4)]
assert len(set(heads)) == 4, f'in-flight heads {heads} are not distinct'
for h in heads:
    top = desc[h]
    if 'INDIRECT' in top['flag_names']:
        table = {x['index']: x for x in top['indirect']}
        assert top['len'] == 16 * len(table), f'head {h}: indirect len {top[\"len\"]} for {len(table)} entries'
    else:
        table = desc
    chain, i = [], (0 if table is not desc else h)
    while True:
        x = table[i]
        chain.append(x)
        if 'NEXT' not in x['flag_names']:
            break
        i = x['next']
        assert len(chain) <= 1024, f'head {h}: chain loops'
    first, data, last = chain[0], chain[1:-1], chain[-1]
    assert first['len'] == 16 and first['flag_names'] == ['NEXT'], f'head {h}: header descriptor {first}'
    assert last['len'] == 1 and last['flag_names'] == ['WRITE'], f'head {h}: status descriptor {last}'
    assert data and all(x['flags'] == $flag_data for x in data), f'head {h}: data descriptors flags {[x[\"flag_names\"] for x in data]}'
    assert sum(x['len'] for x in data) == 256 * 1024, f'head {h}: data length {sum(x[\"len\"] for x in data)}'
assert 1 <= q['in_use'] <= 4 and q['inflight'] == q['in_use'], f'queues: in_use {q[\"in_use\"]} inflight {q[\"inflight\"]}'
print(f'# dir=$dir: heads {heads} decoded, {len(chain)} descriptors in the last chain', file=sys.stderr)
"
        done
        # What a person reads: flags decoded by name, the indirect table beneath its head.
        run ct_vuctl dump 0 --count 4
        echo "$output"
        [[ $status -eq 0 ]]
        [[ $output == *INDIRECT* && $output == *NEXT* && $output == *WRITE* ]]
        [[ $output == *"avail ring"* && $output == *"used ring"* ]]
        vt_wait_qemu 180
        vt_check seq
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
