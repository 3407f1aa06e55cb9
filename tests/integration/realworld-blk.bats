#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar's blk device under workloads a real deployment has and the
# pattern checker does not: ext4 made, filled, fsck'd and trimmed by the
# host's own e2fsprogs inside the guest, kept across a QEMU restart; a guest
# that reboots (QEMU stays) and one that removes and rescans the PCI device;
# a disk hot-plugged and unplugged with QMP; and the host side doing what
# hosts do (the image shrunk under the guest, the image's file system full, a
# block device as the image). The guest runs guest/vutest-realworld.

load lib/vutest

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: no vu-sidecar target in this build (ctest sets it when sidecar/ builds)"
        fi
        vt_setup
        "$VT_SRC_DIR/tests/integration/guest/mkinitramfs-realworld.sh" "$VT_GUEST_DIR" >&2
        RW_MOUNTS=()
        RW_LOOPS=()
}

teardown() {
        vt_cleanup
        local l m
        for m in "${RW_MOUNTS[@]}"; do
                umount -l "$m" 2>/dev/null || true
        done
        for l in "${RW_LOOPS[@]}"; do
                losetup -d "$l" 2>/dev/null || true
        done
}

# rw_boot [--disk SOCK]... [--smp N] [--queues N] [--queue-size N] [--reboot] [--qmp]
#         [--timeout S] [--bg] -- "rw=STEPS ..."
# Boots the realworld guest under TCG with one vhost-user-blk-pci per --disk (queues and
# queue size apply to each). --reboot lets a guest reboot without QEMU exiting; --qmp opens
# a QMP socket at $VT_TMP/qmp.sock and adds two free PCIe root ports for hot-plug. Same
# conventions as qemu_boot_blk: VT_QEMU_PID, VT_CONSOLE, then vt_wait_qemu / vt_check.
rw_boot() {
        local disks=() smp=1 queues= qsize= noreboot=-no-reboot qmp=() bg=0 tmo=$VT_QEMU_TIMEOUT
        local devs=() i=0 d
        while (($#)); do
                case $1 in
                --disk) disks+=("$2"); shift ;;
                --smp) smp=$2; shift ;;
                --queues) queues=$2; shift ;;
                --queue-size) qsize=$2; shift ;;
                --reboot) noreboot= ;;
                --qmp) qmp=(-qmp "unix:$VT_TMP/qmp.sock,server=on,wait=off"
                        -device pcie-root-port,id=rp1,chassis=1,slot=1
                        -device pcie-root-port,id=rp2,chassis=2,slot=2) ;;
                --timeout) tmo=$2; shift ;;
                --bg) bg=1 ;;
                --) shift; break ;;
                *) echo "rw_boot: unknown option $1" >&2; return 2 ;;
                esac
                shift
        done
        for d in "${disks[@]}"; do
                devs+=(-chardev "socket,id=vu$i,path=$d"
                        -device "vhost-user-blk-pci,chardev=vu$i${queues:+,num-queues=$queues}${qsize:+,queue-size=$qsize}")
                i=$((i + 1))
        done
        VT_BOOTS=1
        while [[ -e $VT_TMP/console-$VT_BOOTS.log ]]; do
                VT_BOOTS=$((VT_BOOTS + 1))
        done
        VT_CONSOLE=$VT_TMP/console-$VT_BOOTS.log
        : >"$VT_CONSOLE"
        "$VT_QEMU" -machine q35,accel=tcg -cpu max -smp "$smp" -m 512M \
                -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
                "${devs[@]}" "${qmp[@]}" \
                -kernel "$VT_GUEST_DIR/vmlinuz" -initrd "$VT_GUEST_DIR/initramfs-realworld.cpio.gz" \
                -append "console=ttyS0 quiet panic=-1 vutest.prog=vutest-realworld $*" \
                -nodefaults -display none $noreboot -serial "file:$VT_CONSOLE" -monitor none \
                >"$VT_TMP/qemu-$VT_BOOTS.log" 2>&1 3>&- </dev/null &
        VT_QEMU_PID=$!
        VT_PIDS+=("$VT_QEMU_PID")
        ((bg)) && return 0
        vt_wait_qemu "$tmo"
        echo "$output"
        return "$status"
}

# rw_qmp JSON... — sends qmp_capabilities then each command, one per line, and prints the
# replies (events included). Fails when any command got an error reply.
rw_qmp() {
        local out
        out=$({
                echo '{"execute":"qmp_capabilities"}'
                local c
                for c in "$@"; do
                        echo "$c"
                        sleep 0.5
                done
                sleep 0.5
        } | socat -t 2 - "UNIX-CONNECT:$VT_TMP/qmp.sock")
        echo "$out" >>"$VT_TMP/qmp.log"
        ! grep -q '"error"' <<<"$out"
}

# rw_sidecar SPEC... — one vu-sidecar serving a --blk for each SPEC (sockets given in SPEC).
rw_sidecar() {
        local args=() s
        for s in "$@"; do
                args+=(--blk "$s")
        done
        vt_spawn sidecar "$VU_SIDECAR" "${args[@]}" --control "$VT_TMP/control.sock" \
                --runtime-dir "$VT_TMP" --log-level debug
        VT_SIDECAR_PID=$VT_LAST_PID VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=sidecar
        for s in "$@"; do
                s=${s#*socket=}
                vt_wait_socket "${s%%,*}" "$VT_SIDECAR_PID" || return 1
        done
}

@test "realworld: ext4 made, filled, fsck'd, trimmed and fsync'd in the guest, intact after a QEMU restart" {
        img=$(vt_image 512)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        run rw_boot --disk "$VT_TMP/vu.sock" --timeout 300 -- "rw=fs-make,fs-write,fs-fsync,fs-trim,fs-verify"
        vt_check fs-make fs-write fs-fsync fs-trim fs-verify
        manifest1=$(sed -n 's/^VUTEST: PASS fs-write .*manifest=\([0-9a-f]*\).*/\1/p' <<<"$output")
        [[ -n $manifest1 ]]
        run rw_boot --disk "$VT_TMP/vu.sock" --timeout 300 -- "rw=fs-verify"
        vt_check fs-verify
        manifest2=$(sed -n 's/^VUTEST: PASS fs-verify .*manifest=\([0-9a-f]*\).*/\1/p' <<<"$output")
        [[ $manifest1 == "$manifest2" ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
