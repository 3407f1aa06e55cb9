#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Source compatibility proved with programs nobody here wrote: QEMU's own
# libvhost-user programs (contrib/vhost-user-blk with QEMU's glib wrapper
# libvhost-user-glib.c, tests/vhost-user-bridge, contrib/vhost-user-input),
# fetched from Debian's qemu source package at test time (never kept in this
# tree), are compiled against OUR lib/include/libvhost-user.h and linked with
# OUR shared libvhost-user, then driven by a real QEMU (TCG) guest:
#   blk     the guest checks capacity, serial (GET_ID), write, verify, flush,
#           and discard/write-zeroes when a loop device can back the disk; a
#           second program instance then serves a second boot that finds the
#           data; each instance must exit 0 when QEMU leaves
#   bridge  the guest pings a host peer (udp-peer.py) across vhost-user-bridge's
#           UDP back end, run with -H so the guest's kicks also come through
#           the host-notifier pages it offers over the backend channel
#   input   built and linked only (running it needs an evdev device on the host)
# Only QEMU's utility headers are stood in for (tests/compat/qemu-shim), and a
# missing or mistyped declaration in our header is a build error. QEMU's
# sources are used as they are but for one sed at build time, outside their
# libvhost-user usage: a race in vhost-user-bridge's -H thread start (below).
#
# Output is TAP. Exit 0 all passed, 1 something failed, 77 (ctest: skipped,
# the reason printed) when QEMU, glib or QEMU's source cannot be had here.
# Environment (ctest sets them): SRC_DIR, BUILD_DIR, CC, VU_SANITIZE,
# VU_LIBVHOST_USER (the shared library file), VT_GUEST_DIR; VT_KEEP=1 keeps
# the temp dir; VU_QEMU_SRC_CACHE, VU_QEMU_DSC: see fetch-qemu-source.sh.

# VT_* (and output/status) are read by the sourced vutest.bash; compiler flags hold commas.
# shellcheck disable=SC2034,SC2054
set -uo pipefail

SRC_DIR=${SRC_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD_DIR=${BUILD_DIR:-$SRC_DIR/build}
export VT_GUEST_DIR=${VT_GUEST_DIR:-$BUILD_DIR/tests/integration/guest}
here=$SRC_DIR/tests/compat
cc=${CC:-cc}
lib=${VU_LIBVHOST_USER:-$BUILD_DIR/lib/libvhost-user.so}
sanitize=${VU_SANITIZE:-0}
[[ $sanitize == 1 || $sanitize == ON || $sanitize == true ]] && sanitize=1 || sanitize=0

# ---- what is needed here, or skip saying why -----------------------------------

skip_all() {
        echo "1..0 # SKIP $*"
        echo "qemu-contrib: skipped: $*" >&2
        exit 77
}
for tool in qemu-system-x86_64 "$cc" pkg-config python3 cpio gzip; do
        command -v "$tool" >/dev/null || skip_all "'$tool' is not installed (scripts/setup-deps installs it)"
done
pkg-config --exists glib-2.0 || skip_all "glib-2.0 development files are missing (package libglib2.0-dev; scripts/setup-deps installs it)"
[[ -f $lib ]] || { echo "qemu-contrib: no shared libvhost-user at '$lib' (build the vhost-user target)" >&2; exit 1; }

qemu_paths=(
        subprojects/libvhost-user/libvhost-user-glib.c subprojects/libvhost-user/libvhost-user-glib.h
        contrib/vhost-user-blk/vhost-user-blk.c contrib/vhost-user-input/main.c
        tests/vhost-user-bridge.c include/standard-headers
)
rc=0
qsrc=$("$here/fetch-qemu-source.sh" contrib "${qemu_paths[@]}") || rc=$?
if ((rc == 77)); then
        skip_all "QEMU's source package could not be fetched (the reason is above)"
elif ((rc)); then
        echo "qemu-contrib: fetch-qemu-source.sh failed with status $rc" >&2
        exit 1
fi
qemu_version=$(cat "$qsrc/VERSION")

# shellcheck source=../integration/lib/vutest.bash
source "$SRC_DIR/tests/integration/lib/vutest.bash"
exec 3>&1

n=0
failed=0
tap() { # STATUS DESCRIPTION [REASON...]
        n=$((n + 1))
        if [[ $1 == ok ]]; then
                echo "ok $n - $2"
        elif [[ $1 == skip ]]; then
                echo "ok $n - $2 # SKIP ${*:3}"
        else
                echo "not ok $n - $2"
                failed=1
                shift 2
                (($#)) && printf '%s\n' "$@" | sed 's/^/#   /'
        fi
}
finish() {
        ((failed)) && VT_KEEP=1
        vt_cleanup
        echo "1..$n"
        exit "$failed"
}

vt_setup || { echo "qemu-contrib: could not build the test guest" >&2; exit 1; }
trap finish EXIT
echo "# QEMU sources: Debian qemu $qemu_version ($qsrc)"
echo "# our library: $lib, header: $SRC_DIR/lib/include; compiler: $cc$( ((sanitize)) && echo ', ASan+UBSan runtime')"

# ---- 1. build QEMU's programs against our header and shared library -------------

work=$BUILD_DIR/tests/compat/qemu-contrib
rm -rf "$work"
mkdir -p "$work/glib" "$work/obj" "$work/bin"
# The glib wrapper's header includes "libvhost-user.h" with quotes: copied
# alone into its own directory, nothing but our header can answer that.
cp "$qsrc"/subprojects/libvhost-user/libvhost-user-glib.[ch] "$work/glib/"
if found=$(find "$qsrc" "$work" "$here/qemu-shim" -name libvhost-user.h | grep .); then
        echo "qemu-contrib: a libvhost-user.h other than ours is on the include path: $found" >&2
        exit 1
fi

# QEMU's files are not ours: no warning list, but what would mean our header
# lacks or mistypes something is an error, not a warning.
cflags=(-O2 -g -std=gnu11 -pthread -fno-strict-aliasing
        -Werror=implicit-function-declaration -Werror=implicit-int -Werror=incompatible-pointer-types
        -Werror=int-conversion -Werror=return-type
        -I"$here/qemu-shim" -I"$qsrc/include" -I"$work/glib" -I"$SRC_DIR/lib/include")
mapfile -t glib_cflags < <(pkg-config --cflags glib-2.0 | tr ' ' '\n' | grep .)
mapfile -t glib_libs < <(pkg-config --libs glib-2.0 | tr ' ' '\n' | grep .)
libdir=$(dirname "$lib")
ldflags=(-pthread -L"$libdir" -Wl,-rpath,"$libdir" -Wl,--no-as-needed -l:"$(basename "$lib")")
# Our library is instrumented in the sanitizer build; QEMU's code is not (its
# own undefined behaviour is not what this test is about), but the program
# must carry the sanitizer runtime our library needs.
((sanitize)) && ldflags+=(-fsanitize=address,undefined)

build() { # NAME SOURCE...
        local name=$1 src objs=() log=$work/$1.build.log
        shift
        : >"$log"
        for src in "$@"; do
                local o
                o=$work/obj/$name.$(basename "$src" .c).o
                if ! "$cc" "${cflags[@]}" "${glib_cflags[@]}" -c "$src" -o "$o" >>"$log" 2>&1; then
                        tap "not ok" "$name builds against our libvhost-user.h" \
                                "compiling ${src#"$qsrc"/} failed:" "$(grep -E 'error|note' "$log" | head -n 20)"
                        return 1
                fi
                objs+=("$o")
        done
        if ! "$cc" -o "$work/bin/$name" "${objs[@]}" "${ldflags[@]}" "${glib_libs[@]}" >>"$log" 2>&1; then
                tap "not ok" "$name links with our libvhost-user.so" "$(tail -n 20 "$log")"
                return 1
        fi
        # It must run on our shared library, not on anything else called libvhost-user.
        local resolved
        resolved=$(ldd "$work/bin/$name" | awk '/libvhost-user/ {print $3}')
        if [[ $(readlink -f "$resolved") != $(readlink -f "$lib") ]]; then
                tap "not ok" "$name runs on our libvhost-user.so" "ldd resolves libvhost-user to '${resolved:-nothing}'"
                return 1
        fi
        tap ok "$name builds against our libvhost-user.h and links with our libvhost-user.so"
}

glib_c=$work/glib/libvhost-user-glib.c
shim_c=$here/qemu-shim/qemu-shim.c
have_blk=0 have_bridge=0
build vhost-user-blk "$qsrc/contrib/vhost-user-blk/vhost-user-blk.c" "$glib_c" && have_blk=1
# The one edit of QEMU's code, outside its libvhost-user usage: with -H the
# bridge starts its notifier thread before storing the page address and fd the
# thread reads at once, so it crashed on a NULL page in about one run in five.
# The two stores are moved before pthread_create(); nothing else changes.
bridge_c=$work/patched/vhost-user-bridge.c
mkdir -p "$work/patched"
sed -e '/^    dev->notifier\.\(fd = fd\|addr = addr\);$/d' \
        -e 's/^    if (pthread_create(&thread, NULL, notifier_thread, &dev->vudev) != 0) {$/    dev->notifier.fd = fd;\n    dev->notifier.addr = addr;\n&/' \
        "$qsrc/tests/vhost-user-bridge.c" >"$bridge_c"
if [[ $(diff "$qsrc/tests/vhost-user-bridge.c" "$bridge_c" | grep -c '^[<>]') != 4 ]]; then
        tap "not ok" "vhost-user-bridge: the notifier-thread race fix applies" \
                "QEMU $qemu_version's tests/vhost-user-bridge.c changed: the sed moving two stores no longer matches"
elif build vhost-user-bridge "$bridge_c" "$shim_c"; then
        have_bridge=1
fi
build vhost-user-input "$qsrc/contrib/vhost-user-input/main.c" "$glib_c" "$shim_c"

# ---- 2. vhost-user-blk under a real guest ------------------------------------------

# QEMU's glib wrapper never calls vu_deinit() (neither does vhost-user-blk), so
# what vu_init() allocated is still held at exit, as with QEMU's own library:
# that one leak is theirs. Every other leak counts (vhost-user-bridge does call
# vu_deinit(), which must free everything ours allocated).
printf 'leak:vug_init\n' >"$VT_TMP/lsan.supp"
export LSAN_OPTIONS=${LSAN_OPTIONS:-}${LSAN_OPTIONS:+:}suppressions=$VT_TMP/lsan.supp

# vub_start SOCK DISK — QEMU's vhost-user-blk serving DISK on SOCK (one connection).
vub_start() {
        rm -f "$1"
        vt_spawn "vub-$VT_BOOTS" "$work/bin/vhost-user-blk" --socket-path "$1" --blk-file "$2"
        VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=vub-$VT_BOOTS
        vt_wait_socket "$1" "$VT_LAST_PID"
}

# vub_exited PID NAME — after QEMU left, the program must end by itself with status 0 and
# no sanitizer report. Run it with in_shell, not in $(...).
vub_exited() {
        local i rc=0
        for ((i = 0; i < 100; i++)); do
                vt_alive "$1" || break
                sleep 0.1
        done
        if vt_alive "$1"; then
                echo "$2 still runs 10 s after QEMU disconnected"
                return 1
        fi
        wait "$1" || rc=$?
        if ((rc)); then
                echo "$2 exited with status $rc after QEMU disconnected; its log ends:"
                tail -n 15 "$VT_TMP/$2.log"
                return 1
        fi
        if grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$VT_TMP/$2.log"; then
                grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error:' "$VT_TMP/$2.log" | head -n 40
                return 1
        fi
}

blk_test() {
        local img disk loop='' steps="capacity,serial,write,verify,flush" why
        img=$(vt_image 64)
        disk=$img
        # vhost-user-blk discards and zeroes with block-device ioctls: a loop device gives a
        # file those, so the guest can check them too.
        if [[ $(id -u) == 0 ]] && command -v losetup >/dev/null && loop=$(losetup -f --show "$img" 2>/dev/null); then
                disk=$loop
                steps+=",discard,zeroes"
        else
                loop=
                why="no loop device (needs root and losetup)"
        fi
        local sock=$VT_TMP/vub.sock
        VT_BOOTS=1
        if ! vub_start "$sock" "$disk"; then
                tap "not ok" "vhost-user-blk: the guest's checks pass" "the program did not start: $(tail -n 5 "$VT_TMP/vub-1.log")"
        else
                local pid=$VT_LAST_PID
                run_boot qemu_boot_blk "$sock" --args "vutest=$steps vutest.sectors=131072 vutest.serial=vhost_user_blk vutest.seed=31"
                if why_fail=$(vt_check ${steps//,/ }); then
                        tap ok "vhost-user-blk: the guest's ${steps//,/, } checks pass on ${loop:+a loop device over }a raw image"
                else
                        tap "not ok" "vhost-user-blk: the guest's checks pass" "$why_fail"
                fi
                if in_shell why_fail vub_exited "$pid" vub-1; then
                        tap ok "vhost-user-blk: exits 0 when QEMU disconnects"
                else
                        tap "not ok" "vhost-user-blk: exits 0 when QEMU disconnects" "$why_fail"
                fi
        fi
        [[ -n $loop ]] || tap skip "vhost-user-blk: discard and write-zeroes" "$why"

        # A new instance (the program serves one connection) and a new boot find the data.
        VT_BOOTS=2
        if ! vub_start "$sock" "$disk"; then
                tap "not ok" "vhost-user-blk: a second boot reads the data back" "the program did not start again"
        else
                local pid=$VT_LAST_PID
                run_boot qemu_boot_blk "$sock" --args "vutest=verify-only vutest.seed=31"
                if why_fail=$(vt_check verify-only) && in_shell why_fail vub_exited "$pid" vub-2; then
                        tap ok "vhost-user-blk: a second instance serves a second boot, which reads every byte back"
                else
                        tap "not ok" "vhost-user-blk: a second boot reads the data back" "$why_fail"
                fi
        fi
        [[ -z $loop ]] || losetup -d "$loop" 2>/dev/null || true
}

# in_shell VAR CMD... — runs CMD in this shell (it may wait for our children, which a
# $(...) subshell cannot) and puts what it printed in VAR; returns CMD's status.
in_shell() {
        local var=$1 r=0
        shift
        "$@" >"$VT_TMP/in-shell.out" 2>&1 || r=$?
        printf -v "$var" '%s' "$(cat "$VT_TMP/in-shell.out")"
        return "$r"
}

# run_boot CMD... — like bats' run: sets output and status.
run_boot() {
        output=$("$@")
        status=$?
}

if ((have_blk)); then
        blk_test
else
        tap skip "vhost-user-blk under a guest" "it did not build"
fi

# ---- 3. vhost-user-bridge under a real guest ---------------------------------------

# free_udp_port — a UDP port on 127.0.0.1 nobody uses now.
free_udp_port() {
        python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bridge_test [-H] — with -H the bridge also maps a host-notifier page per queue into the
# guest through the backend channel (vu_set_queue_host_notifier()).
bridge_test() {
        local sock=$VT_TMP/vubr.sock lport rport initrd=$VT_TMP/initrd-net.cpio.gz stage=$VT_TMP/net-stage
        local device_opts=
        # QEMU maps a host notifier only where each queue has its own notify page.
        [[ ${1:-} == -H ]] && device_opts=,page-per-vq=on
        lport=$(free_udp_port)
        rport=$(free_udp_port)
        while [[ $rport == "$lport" ]]; do rport=$(free_udp_port); done
        # The test guest plus the net check: the kernel unpacks concatenated archives.
        mkdir -p "$stage/bin"
        install -m 0755 "$here/qemu-contrib-net-guest.sh" "$stage/bin/vutest-net"
        (cd "$stage" && find . | cpio -o -H newc --quiet) | gzip -1 >"$VT_TMP/net.cpio.gz"
        cat "$VT_GUEST_DIR/initramfs.cpio.gz" "$VT_TMP/net.cpio.gz" >"$initrd"

        vt_spawn peer python3 "$here/udp-peer.py" "$rport" "$lport"
        local peer_pid=$VT_LAST_PID
        vt_spawn vubr "$work/bin/vhost-user-bridge" -u "$sock" -l "127.0.0.1:$lport" -r "127.0.0.1:$rport" "$@"
        local vubr_pid=$VT_LAST_PID
        VT_WATCH_PID=$vubr_pid VT_WATCH_NAME=vubr
        if ! vt_wait_socket "$sock" "$vubr_pid"; then
                tap "not ok" "vhost-user-bridge: the guest pings across it" "$(tail -n 5 "$VT_TMP/vubr.log")"
                return
        fi
        VT_BOOTS=3
        VT_CONSOLE=$VT_TMP/console-$VT_BOOTS.log
        : >"$VT_CONSOLE"
        # vectors=0: with MSI-X a TCG guest hangs in virtio-net's probe (ENVIRONMENT.md).
        "$VT_QEMU" -machine q35,accel=tcg -cpu max -smp "$(vt_tcg_smp 1)" -m 512M \
                -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
                -chardev "socket,id=c0,path=$sock" -netdev vhost-user,id=n0,chardev=c0 \
                -device "virtio-net-pci,netdev=n0,romfile=,vectors=0$device_opts" \
                -kernel "$VT_GUEST_DIR/vmlinuz" -initrd "$initrd" \
                -append "console=ttyS0 quiet panic=-1 vutest.prog=vutest-net" \
                -nodefaults -display none -no-reboot -serial "file:$VT_CONSOLE" -monitor none \
                >"$VT_TMP/qemu-$VT_BOOTS.log" 2>&1 3>&- </dev/null &
        VT_QEMU_PID=$!
        VT_PIDS+=("$VT_QEMU_PID")
        vt_wait_qemu 120
        if why_fail=$(vt_check link ping-small ping-large); then
                tap ok "vhost-user-bridge: the guest's pings cross it both ways (ARP, ICMP, 56 and 1400 bytes)"
        else
                tap "not ok" "vhost-user-bridge: the guest pings across it" "$why_fail" \
                        "---- peer:" "$(tail -n 10 "$VT_TMP/peer.log")"
        fi
        # The peer saw what the guest sent: the frames went out through the bridge's TX path.
        kill -TERM "$peer_pid" 2>/dev/null
        wait "$peer_pid" 2>/dev/null
        local answered
        answered=$(sed -n 's/^peer: totals frames=[0-9]* answered=\([0-9]*\)$/\1/p' "$VT_TMP/peer.log")
        if ((${answered:-0} >= 10)); then
                tap ok "vhost-user-bridge: the host peer answered ${answered} guest frames"
        else
                tap "not ok" "vhost-user-bridge: the host peer answered the guest's frames" \
                        "it answered ${answered:-no} frames:" "$(tail -n 10 "$VT_TMP/peer.log")"
        fi
        if in_shell why_fail vub_exited "$vubr_pid" vubr; then
                tap ok "vhost-user-bridge: exits 0 (after vu_deinit()) when QEMU disconnects"
        else
                tap "not ok" "vhost-user-bridge: exits 0 when QEMU disconnects" "$why_fail"
        fi
        # Its stdout (these lines) is flushed at exit. The TX queue is queue 1: the guest's
        # kicks reached the bridge through the page it offered with vu_set_queue_host_notifier().
        if [[ ${1:-} == -H ]]; then
                local notified
                notified=$(grep -c '^Got a notification for queue1 via host notifier' "$VT_TMP/vubr.log")
                if ((notified > 0)); then
                        tap ok "vhost-user-bridge -H: the guest's TX kicks came through the host notifier page ($notified)"
                else
                        tap "not ok" "vhost-user-bridge -H: the guest's TX kicks came through the host notifier page" \
                                "no 'Got a notification for queue1 via host notifier' line in the bridge's output:" \
                                "$(grep -i 'notif\|PANIC' "$VT_TMP/vubr.log" | head -n 10)"
                fi
        fi
}

if ((have_bridge)); then
        bridge_test -H
else
        tap skip "vhost-user-bridge under a guest" "it did not build"
fi
