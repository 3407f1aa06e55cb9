#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the test guest: an initramfs (cpio.gz) with busybox, the host kernel's
# virtio modules and our static guest programs, plus a link to the matching
# kernel. Output goes to OUTDIR (a build tree, never the source tree):
#   OUTDIR/initramfs.cpio.gz  OUTDIR/vmlinuz  OUTDIR/vutest-blk  OUTDIR/vutest-writer  OUTDIR/vutest-ctl
# Idempotent: does nothing when the output is newer than every input.
# Usage: mkinitramfs.sh OUTDIR
set -euo pipefail

out=${1:?usage: mkinitramfs.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)

# The newest kernel that has both an image and its modules.
kver=
for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V -r); do
        if [[ -d /lib/modules/$k/kernel/drivers/virtio ]]; then
                kver=$k
                break
        fi
done
if [[ -z $kver ]]; then
        echo "mkinitramfs: no /boot/vmlinuz-* with matching /lib/modules/*/kernel/drivers/virtio;" \
                "install linux-image-amd64 (scripts/setup-deps does)" >&2
        exit 1
fi
busybox=/bin/busybox
if [[ ! -x $busybox ]] || readelf -l "$busybox" 2>/dev/null | grep -q 'program interpreter'; then
        echo "mkinitramfs: $busybox is missing or not static; install busybox-static" \
                "(scripts/setup-deps does)" >&2
        exit 1
fi

# Load order matters: each module needs the ones before it.
modules=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk
        failover net_failover virtio_net)

target=$out/initramfs.cpio.gz
if [[ -s $target && -e $out/vmlinuz && $(readlink "$out/vmlinuz") == /boot/vmlinuz-$kver ]]; then
        stale=$(find "$src" "$busybox" -newer "$target" -type f 2>/dev/null | head -n1)
        if [[ -z $stale ]]; then
                exit 0
        fi
fi

stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,dev,proc,sys,tmp,lib/modules}

cc=${CC_STATIC:-gcc}
"$cc" -static -O2 -g0 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE \
        -pthread -o "$out/vutest-blk" "$src/vutest-blk.c"
cp "$out/vutest-blk" "$stage/bin/vutest-blk"
# Guest scripts (vutest-net.sh → /bin/vutest-net), chosen with vutest.prog=.
for script in "$src"/vutest-*.sh; do
        [[ -e $script ]] || continue
        install -m 0755 "$script" "$stage/bin/$(basename "$script" .sh)"
done
# The migration and crash-recovery workload (vutest.prog=vutest-writer).
"$cc" -static -O2 -g0 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE \
        -pthread -o "$out/vutest-writer" "$src/vutest-writer.c"
cp "$out/vutest-writer" "$stage/bin/vutest-writer"
# The control-socket tests' workload (vutest.prog=vutest-ctl).
"$cc" -static -O2 -g0 -Wall -Wextra -Wshadow -Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE \
        -o "$out/vutest-ctl" "$src/vutest-ctl.c"
cp "$out/vutest-ctl" "$stage/bin/vutest-ctl"

cp "$busybox" "$stage/bin/busybox"
for m in "${modules[@]}"; do
        ko=$(find "/lib/modules/$kver/kernel" -name "$m.ko*" | head -n1)
        if [[ -z $ko ]]; then
                echo "mkinitramfs: module $m not found under /lib/modules/$kver" >&2
                exit 1
        fi
        case $ko in
        *.ko) cp "$ko" "$stage/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$ko" >"$stage/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$ko" >"$stage/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$ko" >"$stage/lib/modules/$m.ko" ;;
        esac
done
printf '%s\n' "${modules[@]}" >"$stage/lib/modules/order"
install -m 0755 "$src/init" "$stage/init"

(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) | gzip -1 >"$target.tmp"
mv "$target.tmp" "$target"
ln -sfn "/boot/vmlinuz-$kver" "$out/vmlinuz"
echo "mkinitramfs: $target (kernel $kver)"
