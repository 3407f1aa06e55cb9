#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Ring hot path, our libvhost-user against QEMU's: the same ring-bench driver
# and the same seed-API blk device (tests/compat/blk-device.c) are built twice
# with the same compiler and flags (-O2, both libraries static), once against
# our lib/ and once against the libvhost-user of the Debian QEMU we test with,
# then run alternating over several rounds pinned to one core. It prints
# requests/s (median of rounds, with spread), the ratio ours/QEMU and, per
# scenario, whether ours is slower; then callgrind's instructions per request
# on the backend side, a figure that does not jump with a noisy neighbour.
#
# QEMU's code is never part of this tree: tests/compat/fetch-qemu-source.sh
# fetches it at bench time from Debian's source package (patches applied)
# with a private apt source list, leaving the machine's apt configuration
# alone, into a cache outside the tree; only subprojects/libvhost-user's
# files and the headers they include are kept there.
#
# Figures only: it never fails for being slow. It fails when a build or a run
# fails, and exits 77 (ctest: skipped), saying why, when QEMU's source cannot
# be had.
set -euo pipefail

usage() {
        cat <<EOF
Usage: $0 [--rounds N] [--duration-ms N] [--cpu N] [--work DIR] [--dsc FILE] [--no-callgrind]
  --rounds N       rounds, each running both builds once, order alternating (default 5)
  --duration-ms N  ring-bench's time per scenario (default 300)
  --cpu N          the core both builds are pinned to (default: the last one)
  --work DIR       where to build (default \$BUILD_DIR/tests/bench/ring/vs-qemu,
                   or a temporary directory removed at exit)
  --dsc FILE       use this already downloaded qemu_*.dsc (and the files beside it)
                   instead of asking apt
  --no-callgrind   skip the instruction counts
Environment: SRC_DIR (the source tree), BUILD_DIR, CC (default gcc),
  VU_QEMU_SRC_CACHE (default \${XDG_CACHE_HOME:-~/.cache}/vusidecar/qemu-src).
EOF
}

die() {
        echo "vs-qemu: $*" >&2
        exit 1
}

skip() {
        echo "vs-qemu: skipped: $*" >&2
        exit 77
}

rounds=5 duration_ms=300 cpu= work= dsc= callgrind=1
while (($#)); do
        case $1 in
        --rounds) rounds=${2-}; shift ;;
        --duration-ms) duration_ms=${2-}; shift ;;
        --cpu) cpu=${2-}; shift ;;
        --work) work=${2-}; shift ;;
        --dsc) dsc=${2-}; shift ;;
        --no-callgrind) callgrind=0 ;;
        -h | --help) usage; exit 0 ;;
        *) echo "vs-qemu: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        esac
        shift
done
for v in rounds duration_ms; do
        if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
                echo "vs-qemu: --${v//_/-} must be a positive integer, got '${!v}'" >&2
                exit 2
        fi
done
ncpu=$(nproc)
cpu=${cpu:-$((ncpu - 1))}
if ! [[ $cpu =~ ^[0-9]+$ ]] || ((cpu >= ncpu)); then
        echo "vs-qemu: --cpu must be a core number below $ncpu, got '$cpu'" >&2
        exit 2
fi
if [[ -n $dsc && ! -f $dsc ]]; then
        echo "vs-qemu: --dsc: no such file '$dsc'" >&2
        exit 2
fi

src_dir=${SRC_DIR:-$(cd "$(dirname "$0")/../../.." && pwd)}
[[ -f $src_dir/lib/include/libvhost-user.h ]] || die "SRC_DIR '$src_dir' is not the vusidecar tree"
cc=${CC:-gcc}
cache=${VU_QEMU_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vusidecar/qemu-src}
for tool in "$cc" ar taskset awk; do
        command -v "$tool" >/dev/null || die "'$tool' is not installed"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vs-qemu.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
if [[ -z $work ]]; then
        if [[ -n ${BUILD_DIR:-} ]]; then
                work=$BUILD_DIR/tests/bench/ring/vs-qemu
        else
                work=$tmp/work
        fi
fi
mkdir -p "$work"
work=$(cd "$work" && pwd)

# ---- 1. QEMU's libvhost-user, from Debian's source package ------------------

# What libvhost-user.c needs besides itself: its own include/ (symlinks into
# QEMU's include/qemu) and standard-headers/linux (a symlink into QEMU's
# include/standard-headers). virtio_ring.h's own includes are skipped in
# practice (linux/vhost.h brings the system's copy and its include guard
# first) but are kept so the file stands on its own. The shared fetcher keeps
# them, symlinks resolved, in a cache outside the tree.
lvu=subprojects/libvhost-user
qemu_files=(
        "$lvu/libvhost-user.c" "$lvu/libvhost-user.h"
        "$lvu/include/atomic.h" "$lvu/include/compiler.h"
        "$lvu/standard-headers/linux/virtio_ring.h"
        "$lvu/standard-headers/linux/virtio_types.h"
        "$lvu/standard-headers/linux/types.h"
)
fetch=$src_dir/tests/compat/fetch-qemu-source.sh
[[ -x $fetch ]] || die "$fetch is missing"
rc=0
qroot=$(VU_QEMU_SRC_CACHE=$cache "$fetch" ${dsc:+--dsc "$dsc"} ring-bench "${qemu_files[@]}") || rc=$?
if ((rc == 77)); then
        skip "QEMU's source cannot be had here (see above)"
elif ((rc != 0)); then
        die "fetch-qemu-source.sh failed with status $rc"
fi
qsrc=$qroot/$lvu
qemu_version=$(cat "$qroot/VERSION")

# ---- 2. the same driver and device, built against each library --------------

# The same flags for everything; no warning flags, QEMU's file is not ours.
cflags=(-O2 -g -std=gnu11 -D_GNU_SOURCE -fno-strict-aliasing -pthread)
bench_dir=$src_dir/tests/bench/ring
compat_dir=$src_dir/tests/compat
frontend_dir=$src_dir/tests/frontend

compile() { # OUT SRC FLAGS...
        local out=$1 in=$2
        shift 2
        "$cc" "${cflags[@]}" "$@" -c "$in" -o "$out" || die "Failed to compile $in"
}

rm -rf "$work/ours" "$work/qemu" "$work/frontend" "$work/runs" "$work/callgrind"
mkdir -p "$work/ours/lib" "$work/qemu/lib" "$work/frontend" "$work/runs" "$work/callgrind"

echo "vs-qemu: building with $cc ${cflags[*]} into $work"
for f in "$src_dir"/lib/src/*.c; do
        compile "$work/ours/lib/$(basename "$f" .c).o" "$f" \
                -I"$src_dir/lib/include" -I"$src_dir/lib/src" -I"$src_dir/lib/shared"
done
ar rcs "$work/ours/libvhost-user.a" "$work"/ours/lib/*.o
compile "$work/qemu/lib/libvhost-user.o" "$qsrc/libvhost-user.c" -I"$qsrc"
ar rcs "$work/qemu/libvhost-user.a" "$work/qemu/lib/libvhost-user.o"

# The test frontend (the driver's side) borrows only wire constants from a
# header: one build of it serves both.
for f in "$frontend_dir"/*.c; do
        compile "$work/frontend/$(basename "$f" .c).o" "$f" -I"$src_dir/lib/include" -I"$src_dir/lib/shared"
done

for v in ours qemu; do
        if [[ $v == ours ]]; then
                inc=$src_dir/lib/include hook=ring-bench-pop-into.c
        else
                inc=$qsrc hook=ring-bench-pop-into-none.c
        fi
        incs=(-I"$inc" -I"$compat_dir" -I"$frontend_dir" -I"$bench_dir")
        compile "$work/$v/blk-device.o" "$compat_dir/blk-device.c" "${incs[@]}"
        compile "$work/$v/ring-bench.o" "$bench_dir/ring-bench.c" "${incs[@]}"
        compile "$work/$v/hook.o" "$bench_dir/$hook" "${incs[@]}"
        "$cc" "${cflags[@]}" -o "$work/$v/ring-bench" "$work/$v/ring-bench.o" "$work/$v/hook.o" \
                "$work/$v/blk-device.o" "$work"/frontend/*.o "$work/$v/libvhost-user.a" ||
                die "Failed to link ring-bench against $v libvhost-user"
done

# ---- 3. alternating rounds on one core ---------------------------------------

echo "vs-qemu: $rounds rounds of ring-bench --duration-ms $duration_ms, both pinned to cpu $cpu," \
        "order alternating"
read -r load _ </proc/loadavg
if awk -v l="$load" -v n="$ncpu" 'BEGIN { exit !(l > n / 2) }'; then
        echo "vs-qemu: warning: load average $load on $ncpu cores: the timings will be noisy," \
                "trust the instruction counts (and the best-round ratios) more"
fi
for ((r = 1; r <= rounds; r++)); do
        if ((r % 2)); then order=(ours qemu); else order=(qemu ours); fi
        for v in "${order[@]}"; do
                taskset -c "$cpu" "$work/$v/ring-bench" --duration-ms "$duration_ms" \
                        >"$work/runs/$v.$r.txt" 2>"$work/runs/$v.$r.err" ||
                        { cat "$work/runs/$v.$r.err" >&2; die "ring-bench ($v, round $r) failed"; }
        done
        echo "vs-qemu: round $r/$rounds done"
done

# One row per scenario: name descs layout event_idx pop, then each build's
# median, spread ((max-min)/median), min and max. QEMU has no pop_into: those
# rows compare ours with QEMU's vu_queue_pop on the same chains.
echo
echo "ours: $(git -C "$src_dir" describe --always --dirty 2>/dev/null || echo "lib/ of $src_dir")," \
        "QEMU: libvhost-user of Debian qemu $qemu_version; $cc -O2, static; cpu $cpu"
awk -v rounds="$rounds" '
function median(list, n,   a, i, j, t) {
        n = split(list, a, " ")
        for (i = 2; i <= n; i++)
                for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        lo = a[1]; hi = a[n]
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
FNR == 1 { split(FILENAME, p, "/"); v = p[length(p)]; sub(/\..*/, "", v) }
$6 ~ /^[0-9]+$/ {
        key = $1 " " $2 " " $3 " " $4 " " $5
        if (!(key in seen)) { seen[key] = 1; keys[nkeys++] = key }
        rate[v, key] = rate[v, key] " " $6
}
END {
        printf "%-15s %5s %-8s %-5s %-8s %12s %6s %12s %6s %9s %6s\n", "chains", "descs", "layout", "e_idx", "pop",
               "ours req/s", "spread", "QEMU req/s", "spread", "ours/QEMU", "best"
        for (k = 0; k < nkeys; k++) {
                key = keys[k]; split(key, f, " ")
                qkey = f[1] " " f[2] " " f[3] " " f[4] " pop"
                om = median(rate["ours", key]); olo = lo; ohi = hi
                qm = median(rate["qemu", qkey]); qlo = lo; qhi = hi
                if (om == 0) continue
                if (qm == 0) {
                        printf "%-15s %5s %-8s %-5s %-8s %12.0f %5.1f%% %12s %6s %9s %6s\n", f[1], f[2], f[3], f[4],
                               f[5], om, 100 * (ohi - olo) / om, "-", "", "-", "-"
                        continue
                }
                ratio = om / qm
                note = (f[5] == "pop") ? "" : " *"
                printf "%-15s %5s %-8s %-5s %-8s %12.0f %5.1f%% %12.0f %5.1f%% %9.3f %6.3f%s\n", f[1], f[2], f[3],
                       f[4], f[5], om, 100 * (ohi - olo) / om, qm, 100 * (qhi - qlo) / qm, ratio, ohi / qhi, note
                if (ratio >= 1)
                        verdict[k] = sprintf("not slower (%+.1f%%)", 100 * (ratio - 1))
                else if (rounds < 3)
                        verdict[k] = sprintf("slower by %.1f%% (too few rounds to tell from noise)", 100 * (1 - ratio))
                else if (ohi < qlo)
                        verdict[k] = sprintf("SLOWER by %.1f%% (in every round)", 100 * (1 - ratio))
                else
                        verdict[k] = sprintf("slower by %.1f%% in the median (rounds overlap: within noise)", 100 * (1 - ratio))
                vkey[k] = key
        }
        print "spread: (fastest - slowest round) / median; best: ratio of the fastest rounds, which a noisy"
        print "neighbour disturbs least. * QEMU has no pop_into: compared with its vu_queue_pop on the same"
        print "chains (- where it has no such row)."
        print ""
        for (k = 0; k < nkeys; k++)
                if (k in verdict) {
                        split(vkey[k], f, " ")
                        printf "%-15s %-8s event_idx %-3s %-8s ours is %s\n", f[1], f[3], f[4], f[5], verdict[k]
                }
}' "$work"/runs/ours.*.txt "$work"/runs/qemu.*.txt

# ---- 4. instructions per request (callgrind) ---------------------------------

if ((!callgrind)); then
        exit 0
fi
if ! command -v valgrind >/dev/null; then
        echo
        echo "vs-qemu: no instruction counts: valgrind is not installed (apt-get install valgrind)"
        exit 0
fi

# Counted inside blk_device_run_once() only, i.e. the whole backend side of a
# batch: poll, kick, pop, the device's work, push, notify. The frontend is the
# same object code in both builds and is left out. A dump before each
# blk_device_init() cuts the counts per scenario: part k+1 is scenario k,
# the last scenario is the final dump. Requests are the calls to
# vu_queue_push(), which the device makes once per request.
for v in ours qemu; do
        (cd "$work/callgrind" &&
                valgrind --tool=callgrind --collect-atstart=no --toggle-collect=blk_device_run_once \
                        --dump-before=blk_device_init --compress-strings=no --compress-pos=no \
                        --callgrind-out-file="$work/callgrind/$v.out" \
                        "$work/$v/ring-bench" --duration-ms 100 >"$v.txt" 2>"$v.err") ||
                { cat "$work/callgrind/$v.err" >&2; die "ring-bench under callgrind ($v) failed"; }
done

cg_counts() { # FILE: prints "instructions requests"
        awk '/^summary:/ { ir = $2 }
             /^cfn=/ { c = $0; next }
             /^calls=/ { if (c ~ /[= ]vu_queue_push$/) { split($1, a, "="); n += a[2] } }
             { c = (/^cfn=/) ? c : "" }
             END { print ir + 0, n + 0 }' "$1"
}

echo
echo "Backend instructions per request (callgrind: poll, kick, pop, device, push, notify):"
printf "%-15s %5s %-8s %-5s %-8s %12s %12s %8s\n" chains descs layout e_idx pop ours QEMU ours/QEMU
declare -A qemu_pop_ipr=()
more=()
for v in qemu ours; do
        mapfile -t rows < <(awk '$6 ~ /^[0-9]+$|^\(n\/a\)$/' "$work/callgrind/$v.txt")
        for i in "${!rows[@]}"; do
                part=$((i + 2))
                f=$work/callgrind/$v.out.$part
                ((i + 1 < ${#rows[@]})) || f=$work/callgrind/$v.out
                read -r ir n < <(cg_counts "$f")
                read -r name descs layout eidx pop _ <<<"${rows[$i]}"
                if [[ $v == qemu ]]; then
                        ((n > 0)) && qemu_pop_ipr["$name $descs $layout $eidx"]=$((ir / n))
                        continue
                fi
                q=${qemu_pop_ipr["$name $descs $layout $eidx"]:-}
                if ((n == 0)); then
                        continue
                fi
                if [[ -z $q ]]; then
                        printf "%-15s %5s %-8s %-5s %-8s %12d %12s %8s\n" "$name" "$descs" "$layout" "$eidx" "$pop" \
                                $((ir / n)) - -
                        continue
                fi
                mark=
                [[ $pop == pop ]] || mark=" *"
                awk -v o=$((ir / n)) -v q="$q" -v row="$name $descs $layout $eidx $pop" -v mark="$mark" 'BEGIN {
                        split(row, f, " ")
                        printf "%-15s %5s %-8s %-5s %-8s %12d %12d %8.3f%s\n", f[1], f[2], f[3], f[4], f[5], o, q, o / q, mark
                }'
                if ((ir / n > q)); then
                        more+=("$name $layout event_idx $eidx $pop: ours executes $((ir / n - q)) more instructions per request")
                fi
        done
done
echo "(ours/QEMU below 1: ours executes fewer instructions per request)"
if ((${#more[@]})); then
        printf '%s\n' "${more[@]}"
else
        echo "ours executes no more instructions per request than QEMU's in any scenario"
fi
