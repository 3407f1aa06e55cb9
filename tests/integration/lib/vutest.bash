# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
# Helpers for the real-frontend tests, sourced by tests/integration/*.bats and
# tests/bench/blk/blk-bench.sh: build the test guest, start a vhost-user-blk
# backend (qemu-storage-daemon or vu-sidecar), boot QEMU (TCG) against it with
# the guest checks chosen on the kernel command line, read the verdicts from
# the console, and clean up every process and file we made.
#
# Environment: SRC_DIR, BUILD_DIR (set by ctest; guessed otherwise), VU_SIDECAR
# (path of vu-sidecar), VT_KEEP=1 keeps the temp dir, VT_QEMU_TIMEOUT (s).

VT_SRC_DIR=${SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
VT_BUILD_DIR=${BUILD_DIR:-$VT_SRC_DIR/build}
VT_GUEST_DIR=${VT_GUEST_DIR:-$VT_BUILD_DIR/tests/integration/guest}
VT_QEMU=${VT_QEMU:-qemu-system-x86_64}
VT_QSD=${VT_QSD:-qemu-storage-daemon}
VT_QEMU_TIMEOUT=${VT_QEMU_TIMEOUT:-120}
VT_PIDS=()
VT_BOOTS=0

# vt_alive PID — true while PID runs (a dead child not yet reaped is a zombie: not alive).
vt_alive() {
        local state
        state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
        [[ -n $state && $state != Z ]]
}

# vt_tcg_smp N — the -smp value for a TCG guest of N vCPUs. TCG emits the guest's memory
# barriers only when the machine may have more than one vCPU (QEMU 7.2 sets CF_PARALLEL only
# for max_cpus > 1; tcg_gen_mb() is a no-op otherwise), so a one-vCPU guest's virtio fences
# vanish and a vhost-user backend running on another host core can miss the guest's used_event
# update: the completion's notification is suppressed and the guest waits forever (seen as a
# blk-bench guest hanging in one run of about ten). maxcpus=2 keeps the fences, not a 2nd vCPU.
vt_tcg_smp() {
        local n=${1:-1}
        echo "$n,maxcpus=$((n > 2 ? n : 2))"
}

vt_log() {
        echo "# $*" >&2
}

# Builds the guest (kernel link + initramfs) once per build tree; cheap when up to date.
vt_guest_build() {
        "$VT_SRC_DIR/tests/integration/guest/mkinitramfs.sh" "$VT_GUEST_DIR" >&2
}

# Creates a private temp dir (short path: it holds unix sockets) and the guest.
vt_setup() {
        VT_TMP=$(mktemp -d /tmp/vutest.XXXXXX)
        VT_PIDS=()
        VT_BOOTS=0
        vt_guest_build
}

# Stops every process we started (TERM, then KILL after 5 s) and removes the temp dir.
# When the test failed (bats: BATS_TEST_COMPLETED unset) the logs are shown and kept.
vt_cleanup() {
        local pid i
        for pid in "${VT_PIDS[@]}"; do
                kill -TERM "$pid" 2>/dev/null || true
        done
        for pid in "${VT_PIDS[@]}"; do
                for ((i = 0; i < 50; i++)); do
                        vt_alive "$pid" || break
                        sleep 0.1
                done
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
        VT_PIDS=()
        [[ -n ${VT_TMP:-} && -d $VT_TMP ]] || return 0
        if [[ -n ${BATS_TEST_NAME:-} && -z ${BATS_TEST_COMPLETED:-} ]] || [[ ${VT_KEEP:-0} == 1 ]]; then
                local f
                for f in "$VT_TMP"/*.log; do
                        [[ -e $f ]] || continue
                        echo "# ---- $f (last 40 lines)" >&2
                        tail -n 40 "$f" | sed 's/^/#   /' >&2
                done
                echo "# kept $VT_TMP" >&2
        else
                rm -rf "$VT_TMP"
        fi
}

# vt_image MIB [NAME] — a sparse raw image of MIB MiB in the temp dir; prints its path.
vt_image() {
        local path=$VT_TMP/${2:-disk.img}
        truncate -s "${1}M" "$path"
        echo "$path"
}

# vt_spawn NAME CMD... — starts CMD in the background with its output in NAME.log
# (fd 3 closed so bats does not wait for it); the pid is in VT_LAST_PID.
vt_spawn() {
        local name=$1
        shift
        "$@" >"$VT_TMP/$name.log" 2>&1 3>&- </dev/null &
        VT_LAST_PID=$!
        VT_PIDS+=("$VT_LAST_PID")
}

# vt_wait_socket PATH PID [SECS] — waits until PATH is a socket; fails early if PID died.
vt_wait_socket() {
        local path=$1 pid=$2 secs=${3:-20} i
        for ((i = 0; i < secs * 10; i++)); do
                [[ -S $path ]] && return 0
                if ! vt_alive "$pid"; then
                        echo "backend (pid $pid) exited before creating $path" >&2
                        return 1
                fi
                sleep 0.1
        done
        echo "no socket at $path after $secs s" >&2
        return 1
}

# vt_start_qsd IMG SOCK [--queues N] [--readonly] [--direct] [--taskset CPUS] — qemu-storage-daemon
# exporting IMG as vhost-user-blk on SOCK (--direct: O_DIRECT, bypassing the host page
# cache); pid in VT_LAST_PID.
vt_start_qsd() {
        local img=$1 sock=$2 queues=1 writable=on pin=() direct=off
        shift 2
        while (($#)); do
                case $1 in
                --queues) queues=$2; shift ;;
                --readonly) writable=off ;;
                --direct) direct=on ;;
                --taskset) pin=(taskset -c "$2"); shift ;;
                *) echo "vt_start_qsd: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        vt_spawn qsd "${pin[@]}" "$VT_QSD" \
                --blockdev "driver=file,node-name=f,filename=$img,discard=unmap,aio=threads,cache.direct=$direct" \
                --export "type=vhost-user-blk,id=e,node-name=f,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=$queues"
        VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=qsd
        vt_wait_socket "$sock" "$VT_LAST_PID"
}

# vt_start_sidecar SOCK SPEC [--taskset CPUS] [OPTION...] — vu-sidecar serving one blk device
# (SPEC is the --blk value without socket=, which is added) on SOCK, control socket in the
# temp dir. Waits for SOCK unless SPEC has mode=client (then the frontend made SOCK).
vt_start_sidecar() {
        local sock=$1 spec=$2 pin=()
        shift 2
        if [[ ${1:-} == --taskset ]]; then
                pin=(taskset -c "$2")
                shift 2
        fi
        if [[ -z ${VU_SIDECAR:-} ]]; then
                echo "VU_SIDECAR is not set" >&2
                return 1
        fi
        vt_spawn sidecar "${pin[@]}" "$VU_SIDECAR" --blk "$spec,socket=$sock" \
                --control "$VT_TMP/control.sock" --runtime-dir "$VT_TMP" --log-level debug "$@"
        VT_SIDECAR_PID=$VT_LAST_PID VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=sidecar
        [[ ,$spec, == *,mode=client,* ]] && return 0
        vt_wait_socket "$sock" "$VT_LAST_PID"
}

# vt_start_activated SOCK SPEC [OPTION...] — vu-sidecar started by systemd-socket-activate on
# the first connection to SOCK, receiving the listening fd named "vhost-user".
vt_start_activated() {
        local sock=$1 spec=$2
        shift 2
        vt_spawn sidecar systemd-socket-activate -l "$sock" --fdname=vhost-user \
                "$VU_SIDECAR" --blk "$spec" --control none --runtime-dir "$VT_TMP" --log-level debug "$@"
        VT_SIDECAR_PID=$VT_LAST_PID VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=sidecar
        vt_wait_socket "$sock" "$VT_LAST_PID"
}

# vt_backend_died — true when the backend a test runs against has exited (VT_WATCH_PID).
vt_backend_died() {
        [[ -n ${VT_WATCH_PID:-} ]] && ! vt_alive "$VT_WATCH_PID"
}

# vt_backend_report — what a test prints when the backend died under the guest.
vt_backend_report() {
        echo "backend: $VT_WATCH_NAME (pid $VT_WATCH_PID) exited while the guest was running; its log ends:"
        tail -n 25 "$VT_TMP/$VT_WATCH_NAME.log" 2>/dev/null | sed 's/^/backend: /'
}

# vt_stop_clean PID NAME — SIGTERM, then the process must exit 0 within 10 s and its log must
# hold no sanitizer report: a daemon that leaks or crashes on a normal stop fails the test.
vt_stop_clean() {
        local pid=$1 name=$2 i rc=0
        kill -TERM "$pid" 2>/dev/null || {
                echo "$name (pid $pid) was no longer running at the end of the test" >&2
                return 1
        }
        for ((i = 0; i < 100; i++)); do
                vt_alive "$pid" || break
                sleep 0.1
        done
        if vt_alive "$pid"; then
                echo "$name (pid $pid) still running 10 s after SIGTERM" >&2
                return 1
        fi
        wait "$pid" || rc=$?
        if ((rc != 0)); then
                echo "$name exited with status $rc after SIGTERM; log:" >&2
                tail -n 30 "$VT_TMP/$name.log" >&2
                return 1
        fi
        if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$VT_TMP/$name.log"; then
                echo "$name: sanitizer report in its log:" >&2
                grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error:' "$VT_TMP/$name.log" | head -n 60 >&2
                return 1
        fi
}

# qemu_boot_blk SOCK [--queues N] [--queue-size N] [--smp N] [--mem SIZE] [--args "vutest=..."]
#               [--packed] [--reconnect] [--server] [--taskset CPUS] [--timeout S] [--bg]
# Boots the test guest under TCG with a vhost-user-blk-pci device on SOCK. Prints the
# console log (the VUTEST lines) and returns QEMU's status: 124 when it ran past the timeout,
# 125 when the backend died under it (its log is printed). With --bg it returns at once:
# pid in VT_QEMU_PID, console in VT_CONSOLE (then vt_wait_console, vt_wait_qemu).
# --server: QEMU listens on SOCK and waits for the backend to connect (backend client mode).
qemu_boot_blk() {
        local sock=$1 queues= qsize= smp=1 mem=512M args= packed= reconnect= pin=() bg=0
        local tmo=$VT_QEMU_TIMEOUT
        shift
        while (($#)); do
                case $1 in
                --queues) queues=$2; shift ;;
                --queue-size) qsize=$2; shift ;;
                --smp) smp=$2; shift ;;
                --mem) mem=$2; shift ;;
                --args) args=$2; shift ;;
                --packed) packed=,packed=on ;;
                --reconnect) reconnect=,reconnect=1 ;;
                --server) reconnect=,server=on,wait=on ;;
                --taskset) pin=(taskset -c "$2"); shift ;;
                --timeout) tmo=$2; shift ;;
                --bg) bg=1 ;;
                *) echo "qemu_boot_blk: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        # Numbered by the files already there: `run` calls this in a subshell, where a
        # counter would not survive, and every boot's console must be kept apart.
        VT_BOOTS=1
        while [[ -e $VT_TMP/console-$VT_BOOTS.log ]]; do
                VT_BOOTS=$((VT_BOOTS + 1))
        done
        VT_CONSOLE=$VT_TMP/console-$VT_BOOTS.log
        : >"$VT_CONSOLE"
        # QEMU runs in the background in both modes, so VT_QEMU_PID is QEMU itself (a test may
        # SIGKILL it) and the wait below can also watch the backend.
        "${pin[@]}" "$VT_QEMU" \
                -machine q35,accel=tcg -cpu max -smp "$(vt_tcg_smp "$smp")" -m "$mem" \
                -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
                -chardev "socket,id=vu,path=$sock$reconnect" \
                -device "vhost-user-blk-pci,chardev=vu${queues:+,num-queues=$queues}${qsize:+,queue-size=$qsize}$packed" \
                -kernel "$VT_GUEST_DIR/vmlinuz" -initrd "$VT_GUEST_DIR/initramfs.cpio.gz" \
                -append "console=ttyS0 quiet panic=-1 $args" \
                -nodefaults -display none -no-reboot -serial "file:$VT_CONSOLE" -monitor none \
                >"$VT_TMP/qemu-$VT_BOOTS.log" 2>&1 3>&- </dev/null &
        VT_QEMU_PID=$!
        VT_PIDS+=("$VT_QEMU_PID")
        ((bg)) && return 0
        vt_wait_qemu "$tmo"
        echo "$output"
        return "$status"
}

# vt_wait_console PATTERN [SECS] — waits for an extended regex in the current console log;
# fails early if QEMU exits or the backend dies first.
vt_wait_console() {
        local pattern=$1 secs=${2:-60} i
        for ((i = 0; i < secs * 10; i++)); do
                grep -Eq "$pattern" "$VT_CONSOLE" 2>/dev/null && return 0
                if ! vt_alive "$VT_QEMU_PID"; then
                        grep -Eq "$pattern" "$VT_CONSOLE" 2>/dev/null && return 0
                        echo "QEMU exited before the console showed /$pattern/:" >&2
                        tr -d '\r' <"$VT_CONSOLE" | tail -n 20 >&2
                        return 1
                fi
                if vt_backend_died; then
                        echo "waiting for /$pattern/ on the console:" >&2
                        vt_backend_report >&2
                        return 1
                fi
                sleep 0.1
        done
        echo "console did not show /$pattern/ within $secs s" >&2
        return 1
}

# vt_wait_qemu [SECS] — waits for the background QEMU to exit, then sets `output` (console)
# and `status` as `run` would: QEMU's exit status; 124 when it had to be killed after SECS;
# 125 when the backend died while QEMU ran (QEMU is then killed: the guest would hang).
vt_wait_qemu() {
        local secs=${1:-$VT_QEMU_TIMEOUT} i dead=0 grace=0
        status=0
        for ((i = 0; i < secs * 10; i++)); do
                vt_alive "$VT_QEMU_PID" || break
                if vt_backend_died; then
                        # The guest may be just finishing; give QEMU 3 s to exit by itself.
                        ((grace++ < 30)) || { dead=1; break; }
                fi
                sleep 0.1
        done
        if vt_alive "$VT_QEMU_PID"; then
                kill -KILL "$VT_QEMU_PID" 2>/dev/null || true
                wait "$VT_QEMU_PID" 2>/dev/null || true
                status=$((dead ? 125 : 124))
        else
                wait "$VT_QEMU_PID" || status=$?
        fi
        output=$(tr -d '\r' <"$VT_CONSOLE"; sed 's/^/qemu: /' "$VT_TMP/qemu-$VT_BOOTS.log")
        if ((status == 124)); then
                output+=$'\n'"qemu: killed after $secs s"
        elif ((status == 125)); then
                output+=$'\n'"$(vt_backend_report)"
        fi
        return 0
}

# vt_check WHAT... — after `run qemu_boot_blk ...`: QEMU exited 0, the guest printed
# "VUTEST: PASS <what>" for every WHAT, no FAIL line, and its DONE line. Prints why not.
vt_check() {
        local ok=1 w
        if [[ ${status:-1} != 0 ]]; then
                echo "QEMU exited with status ${status:-?}"
                ok=0
        fi
        for w in "$@"; do
                if ! grep -Eq "^VUTEST: PASS $w( |$)" <<<"$output"; then
                        echo "no 'VUTEST: PASS $w' line"
                        ok=0
                fi
        done
        if grep -q '^VUTEST: FAIL' <<<"$output"; then
                ok=0
        fi
        if ! grep -Eq '^VUTEST: DONE pass=[0-9]+ fail=0$' <<<"$output"; then
                echo "no 'VUTEST: DONE ... fail=0' line"
                ok=0
        fi
        if ((!ok)); then
                echo "---- guest verdicts:"
                grep -E '^VUTEST' <<<"$output" || echo "(none)"
                echo "---- console tail:"
                tail -n 25 <<<"$output"
                return 1
        fi
        grep -E '^VUTEST: PASS' <<<"$output" | sed 's/^/# /' 2>/dev/null >&3 || true
}
