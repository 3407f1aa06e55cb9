#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Build the guest for the real-world workload tests (realworld-*.bats): the
# base test initramfs (mkinitramfs.sh) with a second cpio archive appended,
# which the kernel unpacks over the first. The overlay brings the host's ext4
# modules, mkfs.ext4 and e2fsck with the shared libraries ldd lists, and the
# guest script vutest-realworld (run with vutest.prog=vutest-realworld).
#   OUTDIR/initramfs-realworld.cpio.gz
# Idempotent: does nothing when the output is newer than every input.
# Usage: mkinitramfs-realworld.sh OUTDIR
set -euo pipefail

out=${1:?usage: mkinitramfs-realworld.sh OUTDIR}
src=$(cd "$(dirname "$0")" && pwd)
"$src/mkinitramfs.sh" "$out"
out=$(cd "$out" && pwd)
base=$out/initramfs.cpio.gz
target=$out/initramfs-realworld.cpio.gz
kver=$(readlink "$out/vmlinuz" | sed 's|^/boot/vmlinuz-||')

bins=(/sbin/mke2fs /sbin/e2fsck)
for b in "${bins[@]}"; do
        if [[ ! -x $b ]]; then
                echo "mkinitramfs-realworld: $b is missing; install e2fsprogs" >&2
                exit 1
        fi
done
if [[ -s $target && $target -nt $base && $target -nt $src/vutest-realworld && $target -nt $0 &&
        $target -nt /sbin/mke2fs ]]; then
        exit 0
fi

stage=$(mktemp -d "$out/stage-rw.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,etc,lib/modules,mnt}

# ext4 and what it needs, in load order (crc32c: metadata and journal checksums).
fsmods=(crc16 mbcache jbd2 crc32c_generic ext4)
for m in "${fsmods[@]}"; do
        ko=$(find "/lib/modules/$kver/kernel" -name "$m.ko*" | head -n1)
        if [[ -z $ko ]]; then
                echo "mkinitramfs-realworld: module $m not found under /lib/modules/$kver" >&2
                exit 1
        fi
        case $ko in
        *.ko) cp "$ko" "$stage/lib/modules/$m.ko" ;;
        *.ko.xz) xz -dc "$ko" >"$stage/lib/modules/$m.ko" ;;
        *.ko.zst) zstd -qdc "$ko" >"$stage/lib/modules/$m.ko" ;;
        *.ko.gz) gzip -dc "$ko" >"$stage/lib/modules/$m.ko" ;;
        esac
done
printf '%s\n' "${fsmods[@]}" >"$stage/lib/modules/order-fs"

# The host's own e2fsprogs, with every library the dynamic loader will ask for.
for b in "${bins[@]}"; do
        cp "$b" "$stage/sbin/"
        for lib in $(ldd "$b" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
                mkdir -p "$stage$(dirname "$lib")"
                cp -L "$lib" "$stage$lib"
        done
done
ln -sf mke2fs "$stage/sbin/mkfs.ext4"
[[ -e /etc/mke2fs.conf ]] && cp /etc/mke2fs.conf "$stage/etc/"
install -m 0755 "$src/vutest-realworld" "$stage/bin/vutest-realworld"

(cd "$stage" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet) |
        gzip -1 >"$out/overlay-realworld.cpio.gz.tmp"
# Concatenated archives: the kernel unpacks one after the other into the same rootfs.
cat "$base" "$out/overlay-realworld.cpio.gz.tmp" >"$target.tmp"
rm -f "$out/overlay-realworld.cpio.gz.tmp"
mv "$target.tmp" "$target"
echo "mkinitramfs-realworld: $target"
