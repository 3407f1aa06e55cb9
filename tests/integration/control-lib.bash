# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers for the control-socket tests against a real guest (control-*.bats)
# and the control benchmark (tests/bench/control/): vuctl against the sidecar
# vt_start_sidecar made, the guest program vutest-ctl (guest/vutest-ctl.c),
# the mailbox through which the host tells that guest to go on, and small JSON
# queries. Needs lib/vutest loaded first.
#
#   ct_vuctl ARGS...          vuctl on $VT_TMP/control.sock
#   ct_save FILE ARGS...      vuctl -j ARGS > $VT_TMP/FILE (fails with vuctl's stderr shown)
#   ct_py FILE... -- CODE     run python CODE with j[0], j[1]... the parsed files; fails on assert
#   ct_go IMG NAME            write "GO NAME" into the guest's mailbox block of IMG
#   ct_field TAG KEY          KEY=... of the guest's "VUTEST: STAT tag=TAG" line
#   ct_boot SOCK STEPS [QEMU-OPTION...]   qemu_boot_blk --bg with vutest-ctl running STEPS
#   ct_stop_all               QEMU off, then the sidecar must stop cleanly

CT_MAILBOX_MIB=${CT_MAILBOX_MIB:-63}

ct_vuctl() {
        "$VUCTL" --socket "$VT_TMP/control.sock" "$@"
}

ct_save() {
        local file=$1
        shift
        if ! ct_vuctl -j "$@" >"$VT_TMP/$file" 2>"$VT_TMP/$file.err"; then
                echo "vuctl -j $* failed:" >&2
                cat "$VT_TMP/$file.err" >&2
                return 1
        fi
}

ct_py() {
        local files=()
        while (($#)) && [[ $1 != -- ]]; do
                files+=("$VT_TMP/$1")
                shift
        done
        shift
        python3 - "${files[@]}" <<EOF
import json, sys
j = [json.load(open(f)) for f in sys.argv[1:]]
$1
EOF
}

ct_go() {
        printf 'GO %s\n' "$2" | dd of="$1" bs=4096 seek=$((CT_MAILBOX_MIB * 256)) conv=notrunc status=none
}

ct_field() {
        tr -d '\r' <"$VT_CONSOLE" | grep -E "^VUTEST: STAT tag=$1 " | tail -n 1 | grep -Eo " $2=[0-9]+" | cut -d= -f2
}

ct_boot() {
        local sock=$1 steps=$2
        shift 2
        qemu_boot_blk "$sock" --bg "$@" --args "vutest.prog=vutest-ctl vutest=$steps vuc.mailbox=$CT_MAILBOX_MIB"
}

# ct_wait_pid PID SECS — waits for a process to exit.
ct_wait_pid() {
        local i
        for ((i = 0; i < $2 * 10; i++)); do
                vt_alive "$1" || return 0
                sleep 0.1
        done
        echo "process $1 still running after $2 s" >&2
        return 1
}

# ct_stop_all — powers QEMU off (SIGTERM: its guest idles once the host's checks are done),
# then the sidecar must stop cleanly (vt_stop_clean).
ct_stop_all() {
        kill -TERM "$VT_QEMU_PID" 2>/dev/null || true
        ct_wait_pid "$VT_QEMU_PID" 20
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
