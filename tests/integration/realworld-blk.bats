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

# rw_boot [--disk SOCK]... [--smp N] [--mem SIZE] [--maxmem SIZE] [--queues N] [--queue-size N] [--packed] [--reboot] [--qmp]
#         [--timeout S] [--bg] -- "rw=STEPS ..."
# Boots the realworld guest under TCG with one vhost-user-blk-pci per --disk (queues and
# queue size apply to each). --reboot lets a guest reboot without QEMU exiting; --qmp opens
# a QMP socket at $VT_TMP/qmp.sock and adds two free PCIe root ports for hot-plug. Same
# conventions as qemu_boot_blk: VT_QEMU_PID, VT_CONSOLE, then vt_wait_qemu / vt_check.
rw_boot() {
        local disks=() smp=1 mem=512M maxmem= queues= qsize= packed= noreboot=-no-reboot qmp=() bg=0 tmo=$VT_QEMU_TIMEOUT
        local devs=() i=0 d
        while (($#)); do
                case $1 in
                --disk) disks+=("$2"); shift ;;
                --smp) smp=$2; shift ;;
                --mem) mem=$2; shift ;;
                --maxmem) maxmem=,slots=4,maxmem=$2; shift ;;
                --queues) queues=$2; shift ;;
                --queue-size) qsize=$2; shift ;;
                --packed) packed=,packed=on ;;
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
                        -device "vhost-user-blk-pci,chardev=vu$i${queues:+,num-queues=$queues}${qsize:+,queue-size=$qsize}$packed")
                i=$((i + 1))
        done
        VT_BOOTS=1
        while [[ -e $VT_TMP/console-$VT_BOOTS.log ]]; do
                VT_BOOTS=$((VT_BOOTS + 1))
        done
        VT_CONSOLE=$VT_TMP/console-$VT_BOOTS.log
        : >"$VT_CONSOLE"
        "$VT_QEMU" -machine q35,accel=tcg -cpu max -smp "$(vt_tcg_smp "$smp")" -m "$mem$maxmem" \
                -object "memory-backend-memfd,id=mem,size=$mem,share=on" -numa node,memdev=mem \
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

# rw_sidecar SPEC... [-- OPTION...] — one vu-sidecar serving a --blk for each SPEC (sockets
# given in SPEC), with the daemon OPTIONs after --; waits for every socket.
rw_sidecar() {
        local args=() specs=() s
        while (($#)) && [[ $1 != -- ]]; do
                specs+=("$1")
                args+=(--blk "$1")
                shift
        done
        (($#)) && shift
        vt_spawn sidecar "$VU_SIDECAR" "${args[@]}" --control "$VT_TMP/control.sock" \
                --runtime-dir "$VT_TMP" --log-level debug "$@"
        VT_SIDECAR_PID=$VT_LAST_PID VT_WATCH_PID=$VT_LAST_PID VT_WATCH_NAME=sidecar
        for s in "${specs[@]}"; do
                s=${s#*socket=}
                vt_wait_socket "${s%%,*}" "$VT_SIDECAR_PID" || return 1
        done
}

# rw_plug N SOCK — QMP: a chardev to SOCK and a vhost-user-blk-pci on root port rp1.
rw_plug() {
        rw_qmp "{\"execute\":\"chardev-add\",\"arguments\":{\"id\":\"hp$1\",\"backend\":{\"type\":\"socket\",\"data\":{\"addr\":{\"type\":\"unix\",\"data\":{\"path\":\"$2\"}},\"server\":false}}}}" \
                "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"vhost-user-blk-pci\",\"id\":\"disk$1\",\"chardev\":\"hp$1\",\"bus\":\"rp1\"}}"
}

# rw_unplug N — QMP: device_del, then chardev-remove once the guest has let the device go.
rw_unplug() {
        local i
        rw_qmp "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"disk$1\"}}" || return 1
        for ((i = 0; i < 30; i++)); do
                rw_qmp "{\"execute\":\"chardev-remove\",\"arguments\":{\"id\":\"hp$1\"}}" && return 0
                sleep 1
        done
        echo "chardev hp$1 still in use 30 s after device_del" >&2
        return 1
}

# rw_slow — skips a scenario that passed when it was written and is slow for every run: the file
# stays within its time budget, and VT_REALWORLD_ALL=1 runs them all again.
rw_slow() {
        if [[ ${VT_REALWORLD_ALL:-0} != 1 ]]; then
                skip "slow scenario, passed when written: VT_REALWORLD_ALL=1 runs it"
        fi
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

@test "realworld: the guest reboots (QEMU stays, the sidecar stays) and finds its files; PCI remove and rescan" {
        rw_slow
        img=$(vt_image 256)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        run rw_boot --reboot --disk "$VT_TMP/vu.sock" --timeout 300 -- "rw=fs-make,fs-write,reboot,fs-verify,pci-reset,fs-verify rw.mib=16"
        vt_check fs-make fs-write reboot fs-verify pci-reset
        grep -q '^VUTEST: REBOOT now' <<<"$output"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: a disk hot-plugged with QMP, used, unplugged, and plugged again" {
        img=$(vt_image 64)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        rw_boot --qmp --bg -- "rw=hotplug1,hotplug2"
        vt_wait_console '^VUTEST: WAIT plug 1' 60
        rw_plug 1 "$VT_TMP/vu.sock"
        vt_wait_console '^VUTEST: WAIT unplug 1' 60
        rw_unplug 1
        vt_wait_console '^VUTEST: WAIT plug 2' 60
        rw_plug 2 "$VT_TMP/vu.sock"
        vt_wait_console '^VUTEST: WAIT unplug 2' 60
        rw_unplug 2
        vt_wait_qemu 60
        vt_check hotplug1 unplug1 hotplug2 unplug2
        # Two frontends' connections one after the other: the sidecar went back to waiting.
        [[ $(grep -c 'frontend connected' "$VT_TMP/sidecar.log") -eq 2 ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: 4 queues of 1024 on 4 vCPUs: parallel writers, 4 MiB O_DIRECT requests, unaligned buffered I/O" {
        rw_slow
        img=$(vt_image 256)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock,queues=4,queue-size=1024"
        run rw_boot --smp 4 --queues 4 --queue-size 1024 --disk "$VT_TMP/vu.sock" --timeout 300 -- "rw=parallel,bigio,unaligned"
        vt_check parallel bigio unaligned
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: one sidecar serves 3 disks to one VM" {
        rw_slow
        rw_sidecar "path=$(vt_image 32 a.img),socket=$VT_TMP/a.sock" "path=$(vt_image 32 b.img),socket=$VT_TMP/b.sock" \
                "path=$(vt_image 32 c.img),socket=$VT_TMP/c.sock"
        run rw_boot --disk "$VT_TMP/a.sock" --disk "$VT_TMP/b.sock" --disk "$VT_TMP/c.sock" -- "rw=multi"
        vt_check multi
        cmp "$VT_TMP/a.img" "$VT_TMP/b.img"
        cmp "$VT_TMP/a.img" "$VT_TMP/c.img"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: a disk of 1 GiB + 512 bytes: the last sector is readable and writable, past it is refused" {
        img=$VT_TMP/odd.img
        truncate -s $((1024 * 1024 * 1024 + 512)) "$img"
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        run rw_boot --disk "$VT_TMP/vu.sock" -- "rw=lastsector,unaligned rw.bytes=$((1024 * 1024 * 1024 + 512))"
        vt_check lastsector unaligned
        # The guest's last sector is the image's last 512 bytes.
        sha=$(sed -n 's/^VUTEST: PASS lastsector .*sha=\([0-9a-f]*\).*/\1/p' <<<"$output")
        [[ $(tail -c 512 "$img" | sha256sum | cut -c1-16) == "$sha" ]]
        [[ $(stat -c %s "$img") -eq $((1024 * 1024 * 1024 + 512)) ]]
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: the image truncated under a running guest: tail reads fail, SIGHUP shows the smaller disk" {
        rw_slow
        img=$(vt_image 64)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        rw_boot --bg --disk "$VT_TMP/vu.sock" -- "rw=shrink,unaligned"
        vt_wait_console '^VUTEST: WAIT shrink' 60
        truncate -s 32M "$img"
        vt_wait_console '^VUTEST: SAW read-error' 30
        kill -HUP "$VT_SIDECAR_PID"
        vt_wait_qemu 60
        vt_check shrink unaligned
        grep -q 'PASS shrink size 131072 -> 65536 sectors' <<<"$output"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: the image's file system is full: the guest gets I/O errors, the sidecar survives" {
        rw_slow
        mkdir "$VT_TMP/small"
        mount -t tmpfs -o size=16M tmpfs "$VT_TMP/small"
        RW_MOUNTS+=("$VT_TMP/small")
        img=$VT_TMP/small/disk.img
        truncate -s 64M "$img"
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        run rw_boot --disk "$VT_TMP/vu.sock" -- "rw=ioerror rw.mib=32"
        vt_check ioerror ioerror-after
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: a loop block device as the image: capacity, data, discard and write-zeroes" {
        rw_slow
        truncate -s $((96 * 1024 * 1024 + 512)) "$VT_TMP/backing.img"
        loop=$(losetup -f --show "$VT_TMP/backing.img")
        RW_LOOPS+=("$loop")
        rw_sidecar "path=$loop,socket=$VT_TMP/vu.sock"
        run qemu_boot_blk "$VT_TMP/vu.sock" --args "vutest=capacity,write,verify,flush,discard,zeroes vutest.sectors=196609 vutest.mib=32"
        vt_check capacity write verify flush discard zeroes
        run rw_boot --disk "$VT_TMP/vu.sock" -- "rw=lastsector,unaligned rw.bytes=$((96 * 1024 * 1024 + 512))"
        vt_check lastsector unaligned
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: a read-only image with read-only=off is refused at start, naming the image and the option" {
        # A file the sidecar's user may not write (root writes anything: run it as nobody).
        truncate -s 16M "$VT_TMP/ro.img"
        chmod 0444 "$VT_TMP/ro.img"
        chmod 0755 "$VT_TMP"
        run timeout 10 setpriv --reuid nobody --regid nogroup --clear-groups "$VU_SIDECAR" \
                --blk "path=$VT_TMP/ro.img,socket=$VT_TMP/ro.sock" --control none --runtime-dir "$VT_TMP"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ $output == *"Failed to open image $VT_TMP/ro.img read-write: Permission denied"*"read-only=on"* ]]
        # A read-only block device opens for writing; it must not be served as a writable disk.
        loop=$(losetup -r -f --show "$VT_TMP/ro.img")
        RW_LOOPS+=("$loop")
        run timeout 10 "$VU_SIDECAR" --blk "path=$loop,socket=$VT_TMP/ro.sock" --control none --runtime-dir "$VT_TMP"
        echo "$output"
        [ "$status" -eq 1 ]
        [[ $output == *"image $loop is a read-only block device, but read-only=off"*"read-only=on"* ]]
        # With read-only=on the same device is served, and the guest gets a read-only disk.
        rw_sidecar "path=$loop,socket=$VT_TMP/vu.sock,read-only=on"
        run qemu_boot_blk "$VT_TMP/vu.sock" --args "vutest=readonly"
        vt_check readonly
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "realworld: guest memory hot-plugged and unplugged (a DIMM over QMP) while the disk carries I/O and ext4" {
        img=$(vt_image 256)
        rw_sidecar "path=$img,socket=$VT_TMP/vu.sock"
        rw_boot --qmp --bg --maxmem 2G --disk "$VT_TMP/vu.sock" -- \
                "rw=memhot,bigio,hugeio,fs-make,fs-write,memunplug,fs-verify,hugeio rw.mib=16"
        vt_wait_console '^VUTEST: WAIT dimm' 60
        rw_qmp '{"execute":"object-add","arguments":{"qom-type":"memory-backend-memfd","id":"mem1","size":536870912,"share":true}}' \
                '{"execute":"device_add","arguments":{"driver":"pc-dimm","id":"dimm1","memdev":"mem1"}}'
        vt_wait_console '^VUTEST: WAIT undimm' 200
        rw_qmp '{"execute":"device_del","arguments":{"id":"dimm1"}}'
        vt_wait_qemu 300
        vt_check memhot bigio hugeio fs-make fs-write memunplug fs-verify
        # The sidecar mapped the DIMM as a second region and let it go again.
        grep -q 'Added region guest 0x100000000+0x20000000 (2 in use)' "$VT_TMP/sidecar.log"
        grep -q 'Removed region guest 0x100000000+0x20000000 (1 in use)' "$VT_TMP/sidecar.log"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
