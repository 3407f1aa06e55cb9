#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# What only a real guest can show about vu-sidecar's own features: a disk grown
# underneath and announced with SIGHUP appears at its new size inside the
# running guest (online resize through the vhost-user backend channel), and
# I/O limits slow the guest's writes down without failing them. QEMU (TCG)
# boots the test guest of tests/integration (its harness is reused as is).

load ../integration/lib/vutest

setup() {
        [[ -n ${VU_SIDECAR:-} ]] || skip "VU_SIDECAR is unset: this build has no vu-sidecar target"
        command -v "$VT_QEMU" >/dev/null || skip "$VT_QEMU is not installed (scripts/setup-deps installs it)"
        compgen -G '/boot/vmlinuz-*' >/dev/null || skip "no guest kernel in /boot (linux-image-amd64)"
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

@test "guest: a grown image announced by SIGHUP shows its new size in the running guest" {
        vt_start_sidecar "$sock" "path=$img"
        qemu_boot_blk "$sock" --bg --args "vutest=capacity,idle,capacity vutest.idle-secs=6 vutest.sectors=131072"
        vt_wait_console '^VUTEST: IDLE begin' 90
        # The first check saw 64 MiB; grow to 128 MiB while the guest idles.
        grep -q '^VUTEST: PASS capacity sectors=131072' "$VT_CONSOLE"
        truncate -s 128M "$img"
        kill -HUP "$VT_SIDECAR_PID"
        vt_wait_qemu || true
        grep VUTEST "$VT_CONSOLE"
        # The second capacity step expects the old size, so it must now report the new one.
        grep -q '^VUTEST: FAIL capacity sectors=262144 expected=131072' "$VT_CONSOLE"
        grep -q 'capacity changed from 131072 to 262144 sectors' "$VT_TMP/sidecar.log"
        if grep -q 'Backend channel: request .* failed' "$VT_TMP/sidecar.log"; then
                echo "the config-change notice failed on the backend channel" >&2
                return 1
        fi
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "guest: bps=4M makes 16 MiB of writes take about 3 s or more, and they all succeed" {
        vt_start_sidecar "$sock" "path=$img,bps=4M"
        run qemu_boot_blk "$sock" --args "vutest=write,verify vutest.seed=41"
        vt_check write verify
        local secs
        secs=$(sed -n 's/^VUTEST: PASS write bytes=16777216 seed=41 secs=\([0-9.]*\).*/\1/p' <<<"$output")
        echo "write took $secs s"
        # 4 MiB of burst, then 12 MiB at 4 MiB/s: at least 3 s (a lower bound: slowness never fails this).
        python3 -c 'import sys; assert float(sys.argv[1]) >= 2.8, sys.argv[1]' "$secs"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
