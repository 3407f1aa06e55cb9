#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Fetch files of QEMU's source, as Debian ships it (patches applied), into a
# cache outside the tree, for the tests and benchmarks that build QEMU's own
# code against ours (tests/compat/qemu-contrib.sh, tests/bench/ring/vs-qemu.sh).
# QEMU's code is never part of this tree: it is downloaded when first needed
# with a private apt source list (the machine's apt configuration and state
# are left alone) and kept in the cache, so later runs need no network.
#
# Usage: fetch-qemu-source.sh [--dsc FILE] NAME PATH...
#   Makes CACHE/VERSION.NAME hold each PATH (a file or directory relative to
#   QEMU's source root, symlinks resolved) and prints that directory. VERSION
#   is the source version of the installed qemu-system-x86 (what the tests run
#   against) or, when that is not in bookworm's sources or QEMU is not
#   installed, bookworm's current qemu. The downloaded package itself is kept
#   in CACHE/dl/VERSION, so another NAME needs no second download.
#   --dsc FILE  use this already downloaded qemu_*.dsc (and the files beside it)
# Environment: VU_QEMU_SRC_CACHE (default ${XDG_CACHE_HOME:-~/.cache}/vusidecar/qemu-src),
#   VU_QEMU_DSC (same as --dsc).
# Exit status: 0 done; 77 QEMU's source cannot be had here (the reason is on
# stderr: no network to the mirror, apt-get or dpkg-source missing); 1 other
# failures; 2 bad usage.
set -euo pipefail

prog=fetch-qemu-source
usage() {
        sed -n 's/^# \{0,1\}//; /^Usage:/,/^Exit status/p' "$0" | sed '$d' >&2
}

dsc=${VU_QEMU_DSC:-}
while (($#)); do
        case $1 in
        --dsc) dsc=${2-}; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; break ;;
        -*) echo "$prog: unknown option '$1'" >&2; usage; exit 2 ;;
        *) break ;;
        esac
        shift
done
if (($# < 2)); then
        usage
        exit 2
fi
name=$1
shift
paths=("$@")
if ! [[ $name =~ ^[A-Za-z0-9_-]+$ ]]; then
        echo "$prog: NAME must be letters, digits, '-' or '_', got '$name'" >&2
        exit 2
fi
for p in "${paths[@]}"; do
        if [[ $p == /* || $p == *..* || -z $p ]]; then
                echo "$prog: PATH must be relative to QEMU's source root without '..', got '$p'" >&2
                exit 2
        fi
done
if [[ -n $dsc && ! -f $dsc ]]; then
        echo "$prog: --dsc: no such file '$dsc'" >&2
        exit 2
fi

cache=${VU_QEMU_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vusidecar/qemu-src}
skip() {
        echo "$prog: cannot get QEMU's source: $*" >&2
        exit 77
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/$prog.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The wanted version and, when it is already cached, the answer without apt.
want=$(dpkg-query -W -f='${source:Version}' qemu-system-x86 2>/dev/null || true)
if [[ -n $dsc ]]; then
        want=$(awk '/^Version:/ {print $2; exit}' "$dsc")
        [[ -n $want ]] || { echo "$prog: $dsc has no Version: field" >&2; exit 1; }
fi
list=$(printf '%s\n' "${paths[@]}")
if [[ -n $want ]]; then
        dest=$cache/${want//:/_}.$name
        if [[ -f $dest/VERSION && $(cat "$dest/VERSION") == "$want" && -f $dest/PATHS &&
                $(cat "$dest/PATHS") == "$list" ]]; then
                echo "$dest"
                exit 0
        fi
fi

# Downloads qemu's source package into $cache/dl/VERSION (once); prints the .dsc.
download_source() {
        local found
        for found in "$cache"/dl/"${want//:/_}"/qemu_*.dsc; do
                [[ -n $want && -f $found ]] && { echo "$found"; return 0; }
        done
        for tool in apt-get dpkg-source; do
                command -v "$tool" >/dev/null || skip "'$tool' is not installed"
        done
        mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/dl"
        cat >"$tmp/parts/vusidecar-qemu-src.sources" <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
        local apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$tmp/parts"
                -o "Dir::State::Lists=$tmp/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
        # As root apt hands downloads to the _apt user, which cannot enter a
        # private temporary directory: download as ourselves.
        (($(id -u))) || apt+=(-o APT::Sandbox::User=root)
        echo "$prog: fetching Debian's qemu source${want:+ $want} (once; kept in $cache)" >&2
        timeout 120 "${apt[@]}" update >"$tmp/apt.log" 2>&1 ||
                { tail -n 5 "$tmp/apt.log" >&2; skip "apt-get update against deb.debian.org failed (no network to the Debian mirror?)"; }
        # apt-get update exits 0 when an index failed to download: look for it.
        if ! compgen -G "$tmp/lists/*_Sources*" >/dev/null; then
                grep -E '^(W|E|Err):' "$tmp/apt.log" | head -n 5 >&2
                skip "apt-get update could not download bookworm's source index from deb.debian.org (no network to the Debian mirror?)"
        fi
        if [[ -n $want ]] && (cd "$tmp/dl" && timeout 300 "${apt[@]}" source --download-only "qemu=$want") >>"$tmp/apt.log" 2>&1; then
                :
        else
                [[ -z $want ]] || echo "$prog: qemu $want is not in bookworm's sources, taking bookworm's qemu" >&2
                (cd "$tmp/dl" && timeout 300 "${apt[@]}" source --download-only qemu) >>"$tmp/apt.log" 2>&1 ||
                        { tail -n 5 "$tmp/apt.log" >&2; skip "apt-get source --download-only qemu failed"; }
        fi
        found=$(ls "$tmp"/dl/qemu_*.dsc 2>/dev/null | head -n 1)
        [[ -n $found ]] || { echo "$prog: apt-get source left no qemu_*.dsc" >&2; exit 1; }
        local version
        version=$(awk '/^Version:/ {print $2; exit}' "$found")
        mkdir -p "$cache/dl"
        rm -rf "$cache/dl/${version//:/_}"
        mv "$tmp/dl" "$cache/dl/${version//:/_}"
        echo "$cache/dl/${version//:/_}/$(basename "$found")"
}

if [[ -z $dsc ]]; then
        dsc=$(download_source)
fi
command -v dpkg-source >/dev/null || skip "'dpkg-source' is not installed (package dpkg-dev)"
version=$(awk '/^Version:/ {print $2; exit}' "$dsc")
[[ -n $version ]] || { echo "$prog: $dsc has no Version: field" >&2; exit 1; }
dest=$cache/${version//:/_}.$name

# dpkg-source needs the whole tree to apply Debian's patches; it lives in
# $tmp for a few seconds and only the asked-for paths are kept.
dpkg-source -x "$dsc" "$tmp/src" >"$tmp/dpkg-source.log" 2>&1 ||
        { cat "$tmp/dpkg-source.log" >&2; echo "$prog: could not unpack $dsc" >&2; exit 1; }
mkdir -p "$cache"
rm -rf "$dest.new"
mkdir -p "$dest.new"
for p in "${paths[@]}"; do
        [[ -e $tmp/src/$p ]] || { echo "$prog: qemu $version has no $p" >&2; rm -rf "$dest.new"; exit 1; }
        mkdir -p "$dest.new/$(dirname "$p")"
        cp -RL "$tmp/src/$p" "$dest.new/$p"
done
[[ ! -e $tmp/src/COPYING ]] || cp -L "$tmp/src/COPYING" "$dest.new/COPYING"
echo "$version" >"$dest.new/VERSION"
echo "$list" >"$dest.new/PATHS"
rm -rf "$dest"
mv "$dest.new" "$dest"
echo "$dest"
