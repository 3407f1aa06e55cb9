#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl's changes as a real guest sees them: QEMU (TCG) boots the test guest on
# a disk served by vu-sidecar; the host changes the running device with vuctl
# (resize, set read-only, set iops) and then lets the guest program vutest-ctl
# go on through its mailbox, and the guest reports what its kernel saw: the
# new capacity, writes failing with EIO and the data left alone, writes slowed
# to the limit and fast again once it is lifted.

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

# block_seed IMG — which vutest-ctl seed's pattern the 4 KiB block at 40 MiB of IMG holds (0: none).
block_seed() {
        python3 - "$1" <<'EOF'
import struct, sys
M = (1 << 64) - 1
def word(seed, off):
    z = (seed * 0x9E3779B97F4A7C15 + (off >> 3) + 1) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)
off = 40 << 20
with open(sys.argv[1], 'rb') as f:
    f.seek(off)
    words = struct.unpack('<512Q', f.read(4096))
for seed in range(1, 10):
    if all(w == word(seed, off + i * 8) for i, w in enumerate(words)):
        print(seed)
        break
else:
    print(0)
EOF
}

@test "control: resize grows the disk and the guest kernel sees the new size" {
        vt_start_sidecar "$sock" "path=$img"
        ct_boot "$sock" "grow,stat:end"
        vt_wait_console '^VUTEST: SIZE sectors=131072' 90

        # Refused before anything is sent: not a multiple of 512.
        run ct_vuctl resize 1000
        echo "$output"
        [[ $status -eq 2 && $output == *"not 1000"* ]]

        run ct_vuctl -j resize 96M
        echo "$output"
        [[ $status -eq 0 ]]
        python3 -c 'import json,sys; j=json.loads(sys.argv[1]); assert j["size"] == 96 << 20 and j["announced"] is True, j' "$output"

        vt_wait_qemu
        vt_check grow
        grep -q '^VUTEST: PASS grow from=131072 to=196608 ' <<<"$output"
        [[ $(stat -c %s "$img") -eq $((96 << 20)) ]]
        ct_save status.json status
        ct_py status.json -- "
c = j[0]['devices'][0]['config']
assert c['size_bytes'] == 96 << 20 and c['capacity_sectors'] == 196608 and c['resizes'] == 1, c"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "control: set read-only on makes the guest's writes fail with EIO and keeps the data; off lets them through" {
        vt_start_sidecar "$sock" "path=$img"
        ct_boot "$sock" "blkw:1,wait:ro,blkw-fail:2,blkr:1,wait:rw,blkw:3,blkr:3"

        vt_wait_console '^VUTEST: WAIT ro' 90
        run ct_vuctl set read-only on
        echo "$output"
        [[ $status -eq 0 ]]
        ct_save status.json status
        ct_py status.json -- "
c = j[0]['devices'][0]['config']
assert c['read_only'] is True and c['read_only_negotiated'] is False, c"
        ct_go "$img" ro

        vt_wait_console '^VUTEST: WAIT rw' 60
        # The refused write never reached the image, and the device said so: an I/O error status.
        [[ $(block_seed "$img") -eq 1 ]]
        ct_save stats.json stats
        ct_py stats.json -- "
d = j[0]['devices'][0]['device_counters']
assert d['status_ioerr'] >= 1, d"
        run ct_vuctl set read-only off
        [[ $status -eq 0 ]]
        ct_go "$img" rw

        vt_wait_qemu
        vt_check blkw blkw-fail blkr
        grep -q '^VUTEST: PASS blkw-fail errno=EIO seed=2' <<<"$output"
        grep -q '^VUTEST: PASS blkr seed=1' <<<"$output"
        grep -q '^VUTEST: PASS blkr seed=3' <<<"$output"
        # What the guest kernel logged for the refused write.
        grep -Eq 'I/O error, dev vda, sector 81920 op 0x1:\(WRITE\)' <<<"$output"
        [[ $(block_seed "$img") -eq 3 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "control: set iops 200 slows the guest's 4 KiB writes to the limit, iops 0 lifts it" {
        vt_start_sidecar "$sock" "path=$img"
        ct_boot "$sock" "iops:1000,wait:limit,iops:1000,wait:nolimit,iops:1000" --timeout 180

        vt_wait_console '^VUTEST: WAIT limit' 90
        run ct_vuctl set iops 200
        echo "$output"
        [[ $status -eq 0 ]]
        ct_go "$img" limit
        vt_wait_console '^VUTEST: WAIT nolimit' 60
        ct_save status.json status
        ct_save stats.json stats
        run ct_vuctl set iops 0
        [[ $status -eq 0 ]]
        ct_go "$img" nolimit

        vt_wait_qemu 180
        vt_check iops
        local secs=() rates=() line
        while read -r line; do
                secs+=("$(grep -Eo 'secs=[0-9.]+' <<<"$line" | cut -d= -f2)")
                rates+=("$(grep -Eo 'iops=[0-9]+' <<<"$line" | cut -d= -f2)")
        done < <(grep '^VUTEST: PASS iops' <<<"$output")
        echo "# figure: 1000 x 4 KiB O_DIRECT writes: ${secs[0]} s unlimited, ${secs[1]} s at iops=200, ${secs[2]} s after iops 0" >&3
        ((${#secs[@]} == 3))
        # The bucket holds one second's worth (200 writes), so 1000 writes need at least
        # 800/200 = 4 s (2% allowed for the guest's clock); more than 6 s is not the limit.
        python3 -c "
import sys
free, limited, lifted = map(float, sys.argv[1:4])
assert limited >= 4.0 * 0.98, f'1000 writes at iops=200 took {limited} s, less than 4 s'
assert limited <= 6.0, f'1000 writes at iops=200 took {limited} s: slower than the limit'
assert lifted * 2 < limited and free * 2 < limited, f'unlimited runs ({free} s, {lifted} s) not clearly faster than {limited} s'
" "${secs[@]}"
        ct_py status.json stats.json -- "
c = j[0]['devices'][0]['config']
d = j[1]['devices'][0]['device_counters']
assert c['iops_limit'] == 200, c
assert d['throttled'] > 0, d"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
