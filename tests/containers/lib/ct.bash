# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers for the container tests: the image the fixture built, podman with
# this machine's quirks (runc, ulimits), an unprivileged user with subuids for
# rootless runs, and a small QEMU guest (busybox initramfs under TCG) that
# checks what a user of the disk would notice: it reads what the host put on
# the disk and writes a token the host then finds in the image file.

CT_USER=vusidecar-ct
CT_GUEST_MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk)

ct_setup() {
        if [[ -f $CT_STATE/skip ]]; then
                skip "$(cat "$CT_STATE/skip")"
        fi
        [[ -f $CT_STATE/image ]] || {
                echo "no image: run the containers-build-image ctest fixture first (ctest -R containers)" >&2
                return 1
        }
        CT_IMAGE=$(cat "$CT_STATE/image")
        CT_TMP=$(mktemp -d /tmp/vusidecar-ct.XXXXXX)
        chmod 0755 "$CT_TMP"
        PODMAN=(podman --runtime runc)
        # What every sidecar container gets: the hardening the deployment files
        # use, and limits within this machine's hard limits. Health checks are
        # run by hand (`podman healthcheck run`: systemd is not PID 1 here, so
        # podman cannot arm its timers); CT_RUN_NOHC is for runs whose output
        # is checked, without podman's complaint about those timers.
        CT_RUN=(--read-only --cap-drop=all --security-opt=no-new-privileges --network=none
                --ulimit=nofile=1024:1024 --ulimit=nproc=1024:1024)
        CT_RUN_NOHC=("${CT_RUN[@]}" --no-healthcheck)
}

ct_teardown() {
        local name
        if [[ -n ${CT_TMP:-} && -d $CT_TMP ]]; then
                while read -r name; do
                        "${PODMAN[@]}" rm -f -v -t 2 "$name" >/dev/null 2>&1 || true
                done < <(cat "$CT_TMP/containers" 2>/dev/null)
                while read -r name; do
                        ct_as_user podman --runtime runc rm -f -v -t 2 "$name" >/dev/null 2>&1 || true
                done < <(cat "$CT_TMP/user-containers" 2>/dev/null)
                [[ -f $CT_TMP/kube.yaml ]] && "${PODMAN[@]}" kube down "$CT_TMP/kube.yaml" >/dev/null 2>&1
                [[ -f $CT_TMP/activator.pid ]] && kill "$(cat "$CT_TMP/activator.pid")" 2>/dev/null
                [[ -f $CT_TMP/volume ]] && podman volume rm -f "$(cat "$CT_TMP/volume")" >/dev/null 2>&1
                rm -rf "$CT_TMP"
        fi
        return 0
}

# A unique container name, removed again by ct_teardown.
ct_name() {
        local n="ct-${BATS_TEST_NUMBER:-0}-$$-$RANDOM"
        echo "$n" >> "$CT_TMP/${1:-containers}"
        echo "$n"
}

# The unprivileged user for rootless runs: made if missing, with subuid and
# subgid ranges (useradd adds them on Debian; added by hand if not).
ct_user_ensure() {
        id -u "$CT_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$CT_USER"
        grep -q "^$CT_USER:" /etc/subuid || usermod --add-subuids 300000-365535 "$CT_USER"
        grep -q "^$CT_USER:" /etc/subgid || usermod --add-subgids 300000-365535 "$CT_USER"
        CT_USER_UID=$(id -u "$CT_USER")
        CT_USER_HOME=$(getent passwd "$CT_USER" | cut -d: -f6)
}

ct_as_user() {
        runuser -u "$CT_USER" -- env -C "$CT_USER_HOME" -u CONTAINERS_CONF \
                HOME="$CT_USER_HOME" USER="$CT_USER" LOGNAME="$CT_USER" "$@"
}

# Load the fixture's image into the test user's own podman storage.
ct_user_load_image() {
        cp "$CT_STATE/image.tar" "$CT_TMP/image.tar"
        chmod 0644 "$CT_TMP/image.tar"
        ct_as_user podman load -q -i "$CT_TMP/image.tar" >/dev/null
}

# ct_disk FILE MiB: a raw image whose first sector starts with a marker the
# guest must read back; prints the marker.
ct_disk() {
        local marker="HOST-MARKER-$RANDOM$RANDOM"
        truncate -s "${2}M" "$1"
        printf '%s' "$marker" | dd of="$1" conv=notrunc status=none
        echo "$marker"
}

# The guest initramfs, made once per run: busybox, the virtio modules and an
# init that reports on the serial console and powers off.
ct_guest_initramfs() {
        local out=$CT_STATE/guest.cpio.gz
        [[ -s $out ]] && { echo "$out"; return 0; }
        local kver root m ko
        kver=$(ls /lib/modules | sort -V | tail -n1)
        root=$(mktemp -d "$CT_TMP/initramfs.XXXXXX")
        mkdir -p "$root"/{bin,proc,sys,dev,modules}
        cp /bin/busybox "$root/bin/busybox"
        for m in "${CT_GUEST_MODULES[@]}"; do
                ko=$(find "/lib/modules/$kver/kernel" -name "$m.ko*" | head -n1)
                [[ -n $ko ]] || { echo "guest: module $m not found for $kver" >&2; return 1; }
                case "$ko" in
                *.xz) xz -dc "$ko" > "$root/modules/$m.ko" ;;
                *.zst) zstd -qdc "$ko" > "$root/modules/$m.ko" ;;
                *) cp "$ko" "$root/modules/$m.ko" ;;
                esac
        done
        cat > "$root/init" <<GUEST
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${CT_GUEST_MODULES[*]}; do insmod /modules/\$m.ko || echo "CT: insmod \$m failed"; done
token=\$(sed -n 's/.*ct.token=\([^ ]*\).*/\1/p' /proc/cmdline)
i=0; while [ ! -b /dev/vda ] && [ \$i -lt 200 ]; do sleep 0.1; i=\$((i+1)); done
if [ -b /dev/vda ]; then
        echo "CT: sectors \$(cat /sys/block/vda/size)"
        echo "CT: read \$(dd if=/dev/vda bs=512 count=1 2>/dev/null | tr -d '\\000' | head -c 64)"
        printf '%s' "\$token" | dd of=/dev/vda bs=512 seek=2048 conv=fsync 2>/dev/null && echo "CT: wrote"
        echo 3 > /proc/sys/vm/drop_caches
        echo "CT: readback \$(dd if=/dev/vda bs=512 skip=2048 count=1 2>/dev/null | tr -d '\\000' | head -c 64)"
else
        echo "CT: no /dev/vda"
fi
echo "CT: done"
poweroff -f
GUEST
        chmod 0755 "$root/init"
        (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$out.tmp"
        mv "$out.tmp" "$out"
        chmod 0644 "$out"
        echo "$out"
}

# ct_guest SOCKET LOG TOKEN [--as-user]: boot the guest against the
# vhost-user-blk socket and wait for it to power off (TCG: a few seconds).
ct_guest() {
        local sock=$1 log=$2 token=$3 as=() kernel initrd
        [[ ${4:-} == --as-user ]] && as=(ct_as_user)
        kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n1)
        initrd=$(ct_guest_initramfs)
        : > "$log"
        chmod 0666 "$log"
        # maxcpus=2 keeps the guest's memory barriers under TCG (vt_tcg_smp in tests/integration/lib/vutest.bash).
        "${as[@]}" timeout 180 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -smp 1,maxcpus=2 -m 256M \
                -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
                -kernel "$kernel" -initrd "$initrd" \
                -append "console=ttyS0 panic=-1 quiet ct.token=$token" \
                -display none -monitor none -serial "file:$log" -no-reboot \
                -chardev "socket,id=vu,path=$sock" -device vhost-user-blk-pci,chardev=vu,num-queues=1
}

# ct_guest_check LOG MARKER TOKEN IMAGE: what a user of the disk notices: the
# guest read the host's data, its write came back, and it is in the file.
ct_guest_check() {
        local log=$1 marker=$2 token=$3 img=$4
        grep -q "CT: read $marker" "$log" || { echo "guest did not read the host's marker $marker:"; cat "$log"; return 1; }
        grep -q "CT: readback $token" "$log" || { echo "guest did not read back its token $token:"; cat "$log"; return 1; }
        dd if="$img" bs=512 skip=2048 count=1 status=none | grep -q "$token" ||
                { echo "the token $token is not in $img after the guest wrote it"; return 1; }
}

# ct_wait_socket PATH [SECONDS]
ct_wait_socket() {
        local i
        for ((i = 0; i < ${2:-20} * 10; i++)); do
                [[ -S $1 ]] && return 0
                sleep 0.1
        done
        echo "socket $1 did not appear" >&2
        return 1
}

# ct_rss PID: resident set of a process, in KiB.
ct_rss() {
        awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}
