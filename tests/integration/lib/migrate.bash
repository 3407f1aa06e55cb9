# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers for the migration, crash-recovery and reconnect tests
# (tests/integration/{migrate,crash,reconnect}-*.bats), on top of lib/vutest.bash:
# several named sidecars and QEMUs at once, each with its own log, control socket,
# console and QMP monitor, and the vutest-writer guest workload.
#
#   mt_sidecar NAME SOCK SPEC [OPTION...]   vu-sidecar serving one blk device; log NAME.log,
#                                           control socket NAME.ctl; pid in MT_PID
#   mt_qemu NAME SOCK [--incoming URI] [--reconnect] [--server] [--mem SIZE] [--packed] [--args "..."]
#                                           QEMU (TCG, Skylake-Client: see ENVIRONMENT.md) with
#                                           QMP on NAME.qmp, console NAME-console.log; pid in MT_PID
#   mt_qmp NAME VERB ...                    lib/qmp.py against NAME's monitor
#   mt_vuctl NAME ARGS...                   vuctl against sidecar NAME's control socket
#   mt_wait_console NAME PATTERN [SECS]     wait for an extended regex on NAME's console
#   mt_wait_tick NAME T [SECS]              wait until the writer on NAME has run T seconds
#   mt_wait_exit PID SECS                   wait for a process to exit; 124 if it does not
#   mt_verdicts NAME...                     sets `output` to the consoles' VUTEST lines
#   mt_kill9 PID                            SIGKILL and reap
# Needs lib/vutest loaded first. Writer parameters go in --args, e.g. "vutest=run,verify vuw.secs=20" (see vutest-writer.c).

MT_QMP_PY=$VT_SRC_DIR/tests/integration/lib/qmp.py
MT_CPU=${MT_CPU:-Skylake-Client}

mt_sidecar() {
        local name=$1 sock=$2 spec=$3
        shift 3
        if [[ -z ${VU_SIDECAR:-} ]]; then
                echo "VU_SIDECAR is not set" >&2
                return 1
        fi
        vt_spawn "$name" "$VU_SIDECAR" --blk "$spec,socket=$sock" --control "$VT_TMP/$name.ctl" \
                --runtime-dir "$VT_TMP" --log-level debug "$@"
        MT_PID=$VT_LAST_PID
        # In client mode the frontend owns the socket: nothing to wait for.
        if [[ $spec == *mode=client* ]]; then
                return 0
        fi
        vt_wait_socket "$sock" "$MT_PID"
}

mt_qemu() {
        local name=$1 sock=$2 incoming=() chardev_opts= mem=512M args= device_opts=
        shift 2
        while (($#)); do
                case $1 in
                --incoming) incoming=(-incoming "$2"); shift ;;
                --reconnect) chardev_opts+=,reconnect=1 ;;
                --server) chardev_opts+=,server=on,wait=off ;;
                --mem) mem=$2; shift ;;
                --packed) device_opts+=,packed=on ;;
                --args) args=$2; shift ;;
                *) echo "mt_qemu: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        : >"$VT_TMP/$name-console.log"
        "$VT_QEMU" \
                -machine q35,accel=tcg -cpu "$MT_CPU" -smp "$(vt_tcg_smp 1)" -m "$mem" \
                -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
                -chardev "socket,id=vu,path=$sock$chardev_opts" \
                -device "vhost-user-blk-pci,chardev=vu$device_opts" \
                -kernel "$VT_GUEST_DIR/vmlinuz" -initrd "$VT_GUEST_DIR/initramfs.cpio.gz" \
                -append "console=ttyS0 quiet panic=-1 vutest.prog=vutest-writer $args" \
                -nodefaults -display none -no-reboot -serial "file:$VT_TMP/$name-console.log" \
                -qmp "unix:$VT_TMP/$name.qmp,server=on,wait=off" "${incoming[@]}" \
                >"$VT_TMP/$name-qemu.log" 2>&1 3>&- </dev/null &
        MT_PID=$!
        VT_PIDS+=("$MT_PID")
        local i
        for ((i = 0; i < 100; i++)); do
                [[ -S $VT_TMP/$name.qmp ]] && return 0
                if ! vt_alive "$MT_PID"; then
                        echo "QEMU $name exited at once:" >&2
                        cat "$VT_TMP/$name-qemu.log" >&2
                        return 1
                fi
                sleep 0.1
        done
        echo "QEMU $name: no monitor socket after 10 s" >&2
        return 1
}

mt_qmp() {
        local name=$1
        shift
        python3 "$MT_QMP_PY" "$VT_TMP/$name.qmp" "$@"
}

mt_vuctl() {
        local name=$1
        shift
        "$VUCTL" --socket "$VT_TMP/$name.ctl" "$@"
}

mt_wait_console() {
        local name=$1 pattern=$2 secs=${3:-60} i
        for ((i = 0; i < secs * 10; i++)); do
                grep -Eq "$pattern" "$VT_TMP/$name-console.log" 2>/dev/null && return 0
                sleep 0.1
        done
        echo "console of $name did not show /$pattern/ within $secs s; it ends:" >&2
        tr -d '\r' <"$VT_TMP/$name-console.log" | tail -n 15 >&2
        return 1
}

# mt_wait_tick NAME T [SECS] — until the writer on NAME's console has run T seconds (its TICK lines).
mt_wait_tick() {
        local name=$1 t=$2 secs=${3:-90} i last
        for ((i = 0; i < secs * 10; i++)); do
                last=$(tr -d '\r' <"$VT_TMP/$name-console.log" | grep -Eo '^VUTEST: TICK t=[0-9]+' | tail -n 1 | cut -d= -f2)
                ((${last:-0} >= t)) && return 0
                sleep 0.1
        done
        echo "the writer on $name did not run $t s within $secs s; its console ends:" >&2
        tr -d '\r' <"$VT_TMP/$name-console.log" | tail -n 15 >&2
        return 1
}

mt_wait_exit() {
        local pid=$1 secs=$2 i
        for ((i = 0; i < secs * 10; i++)); do
                vt_alive "$pid" || {
                        wait "$pid" 2>/dev/null
                        return $?
                }
                sleep 0.1
        done
        echo "process $pid still running after $secs s" >&2
        return 124
}

mt_kill9() {
        kill -KILL "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
}

# The VUTEST lines of the named consoles, in order (a migrated guest prints on both).
mt_verdicts() {
        local name
        output=
        for name in "$@"; do
                output+=$(tr -d '\r' <"$VT_TMP/$name-console.log" | grep -E '^VUTEST' || true)
                output+=$'\n'
        done
}

# mt_check WHAT... — after mt_verdicts: a PASS line for each WHAT, no FAIL, DONE with fail=0.
mt_check() {
        local w ok=1
        for w in "$@"; do
                grep -Eq "^VUTEST: PASS $w( |$)" <<<"$output" || { echo "no 'VUTEST: PASS $w' line"; ok=0; }
        done
        grep -q '^VUTEST: FAIL' <<<"$output" && ok=0
        grep -Eq '^VUTEST: DONE pass=[0-9]+ fail=0$' <<<"$output" || { echo "no 'VUTEST: DONE ... fail=0' line"; ok=0; }
        if ((!ok)); then
                echo "---- guest verdicts:"
                grep -E '^VUTEST: (PASS|FAIL|DONE|RUNNING)' <<<"$output" || echo "(none)"
                return 1
        fi
}

# mt_field LINE-REGEX KEY — the value of KEY=... on the last console line matching LINE-REGEX.
mt_field() {
        grep -E "$1" <<<"$output" | tail -n 1 | grep -Eo "(^| )$2=[^ ]+" | cut -d= -f2
}
