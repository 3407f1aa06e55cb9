#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# virtio-blk benchmark: the same TCG guest benchmark (vutest-blk "bench": 1 MiB
# sequential and 4 KiB random O_DIRECT I/O through native AIO) against
# qemu-storage-daemon and against vu-sidecar on the same image, alternating the
# backends over several rounds, the backend pinned to one core and QEMU to the
# other. Prints the median of each figure, the ratio us/qsd, and each backend's
# idle RSS and CPU (a guest connected but doing nothing); the RSS is split into
# the backend's own memory (anon + file) and the guest RAM pages it has mapped
# in by doing I/O on them (shared memory, not the backend's to own). Figures only: it never
# fails for being slow; it fails only when a backend could not serve the guest.
#
# Like is compared with like, in two pairs: vu-sidecar cache=none against qsd
# with cache.direct=on (both O_DIRECT: the host page cache is out of the
# picture) and vu-sidecar cache=writeback against qsd's own default (both
# through the host page cache). Under TCG the guest's emulated CPU is usually
# the bottleneck, so the ratios say more than the absolute numbers.
set -euo pipefail

usage() {
        cat <<EOF
Usage: $0 [--rounds N] [--secs S] [--mib M] [--qd Q] [--sidecar PATH] [--only qsd|sidecar]
          [--cache both|none|writeback] [--spec KEYS]
  --rounds N     rounds, each running every backend once (default 3)
  --secs S       seconds per benchmark inside the guest (default 3)
  --mib M        size of the region the guest benchmarks on (default 64)
  --qd Q         queue depth of the 4 KiB random tests (default 16)
  --sidecar PATH vu-sidecar binary (default \$VU_SIDECAR)
  --only B       run one backend only
  --cache C      which pairs to run: none (vu-sidecar cache=none vs qsd cache.direct=on),
                 writeback (vu-sidecar cache=writeback vs qsd's default, the page cache),
                 or both (default)
  --spec KEYS    extra --blk SPEC keys for vu-sidecar (e.g. queue-size=128)
Environment: SRC_DIR, BUILD_DIR (where the guest is built), VU_SIDECAR.
EOF
}

rounds=3 secs=3 mib=64 qd=16 only= cache=both spec_extra=
sidecar=${VU_SIDECAR:-}
while (($#)); do
        case $1 in
        --rounds) rounds=$2; shift ;;
        --secs) secs=$2; shift ;;
        --mib) mib=$2; shift ;;
        --qd) qd=$2; shift ;;
        --sidecar) sidecar=$2; shift ;;
        --only) only=$2; shift ;;
        --cache) cache=$2; shift ;;
        --spec) spec_extra=,$2; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "blk-bench: unknown option '$1'" >&2; usage >&2; exit 2 ;;
        esac
        shift
done
case $cache in
both) caches=(none writeback) ;;
none | writeback) caches=("$cache") ;;
*) echo "blk-bench: --cache takes both, none or writeback, got '$cache'" >&2; exit 2 ;;
esac
for v in rounds secs mib qd; do
        if ! [[ ${!v} =~ ^[1-9][0-9]*$ ]]; then
                echo "blk-bench: --$v must be a positive integer, got '${!v}'" >&2
                exit 2
        fi
done

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../integration/lib/vutest.bash
source "$here/../../integration/lib/vutest.bash"
vt_setup
trap vt_cleanup EXIT

# A backend is KIND-CACHE: qsd-none is qsd with cache.direct=on, qsd-writeback its default.
backends=()
for c in "${caches[@]}"; do
        backends+=("qsd-$c" "sidecar-$c")
done
declare -A skip_reason=()
sidecar_skip=
if [[ -z $sidecar ]]; then
        sidecar_skip="no vu-sidecar (set VU_SIDECAR or --sidecar)"
elif [[ ! -x $sidecar ]]; then
        sidecar_skip="$sidecar is not executable"
fi
VU_SIDECAR=$sidecar
qsd_skip=
if [[ -n $only ]]; then
        case $only in
        qsd) sidecar_skip="--only qsd" ;;
        sidecar) qsd_skip="--only sidecar" ;;
        *) echo "blk-bench: --only takes qsd or sidecar, got '$only'" >&2; exit 2 ;;
        esac
fi
for b in "${backends[@]}"; do
        if [[ $b == sidecar-* && -n $sidecar_skip ]]; then
                skip_reason[$b]=$sidecar_skip
        elif [[ $b == qsd-* && -n $qsd_skip ]]; then
                skip_reason[$b]=$qsd_skip
        fi
done
# Two cores: the backend on one, QEMU (vCPU and I/O thread) on the other.
ncpu=$(nproc)
cpu_backend=0
cpu_qemu=$((ncpu > 1 ? 1 : 0))

# A fully allocated image, so neither backend reads holes.
img=$VT_TMP/bench.img
img_mib=$((mib + 8))
fallocate -l "${img_mib}M" "$img" 2>/dev/null || dd if=/dev/zero of="$img" bs=1M count="$img_mib" status=none
sock=$VT_TMP/bench.sock

declare -A results=() idle_rss=() idle_own=() idle_guest=() idle_cpu=() failed=()
tests=(seqread-1m seqwrite-1m randread-4k randwrite-4k)

start_backend() {
        local kind=${1%%-*} c=${1#*-}
        rm -f "$sock"
        case $kind in
        qsd)
                if [[ $c == none ]]; then
                        vt_start_qsd "$img" "$sock" --taskset "$cpu_backend" --direct
                else
                        vt_start_qsd "$img" "$sock" --taskset "$cpu_backend"
                fi
                ;;
        sidecar)
                vt_start_sidecar "$sock" "path=$img,cache=$c$spec_extra" --taskset "$cpu_backend" \
                        --log-level warning
                ;;
        esac
}

# CPU seconds (user+system) a process has used, in clock ticks.
cpu_ticks() {
        awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Runs one backend once: the guest benchmark, then (in round 1) an idle period measured from /proc.
run_one() {
        local b=$1 round=$2 pid args line name mbps iops t0 t1 hz rss own guest
        if ! start_backend "$b" 2>"$VT_TMP/start.err"; then
                failed[$b]="could not start: $(head -c 300 "$VT_TMP/start.err")"
                return 0
        fi
        pid=$VT_LAST_PID
        args="vutest.bench-secs=$secs vutest.bench-mib=$mib vutest.qd=$qd"
        if ((round == 1)); then
                args="vutest=bench,idle vutest.idle-secs=8 $args"
        else
                args="vutest=bench $args"
        fi
        qemu_boot_blk "$sock" --bg --taskset "$cpu_qemu" --args "$args"
        if ((round == 1)); then
                if vt_wait_console '^VUTEST: IDLE begin' $((secs * 8 + 120)) 2>"$VT_TMP/idle.err"; then
                        sleep 1
                        hz=$(getconf CLK_TCK)
                        t0=$(cpu_ticks "$pid")
                        sleep 5
                        t1=$(cpu_ticks "$pid")
                        # VmRSS counts the guest's RAM pages the backend touched (shared memfd, RssShmem)
                        # beside the backend's own memory (RssAnon + RssFile): say both.
                        read -r rss own guest < <(awk '/^VmRSS:/ { t = $2 } /^RssAnon:|^RssFile:/ { o += $2 }
                                /^RssShmem:/ { g = $2 } END { print t, o, g }' "/proc/$pid/status")
                        idle_rss[$b]=$(awk -v k="$rss" 'BEGIN { printf "%.1f MiB", k / 1024 }')
                        idle_own[$b]=$(awk -v k="$own" 'BEGIN { printf "%.1f MiB", k / 1024 }')
                        idle_guest[$b]=$(awk -v k="$guest" 'BEGIN { printf "%.1f MiB", k / 1024 }')
                        idle_cpu[$b]=$(awk -v d=$((t1 - t0)) -v hz="$hz" 'BEGIN { printf "%.1f %%", d * 100 / hz / 5 }')
                fi
        fi
        vt_wait_qemu $((secs * 8 + 180))
        if [[ $status != 0 ]] || grep -q '^VUTEST: FAIL' <<<"$output" || ! grep -q '^VUTEST-BENCH:' <<<"$output"; then
                failed[$b]="round $round: $(grep -E '^VUTEST: FAIL|^qemu:|^backend:' <<<"$output" | head -n 8 | tr '\n' ' ')"
                [[ -n ${failed[$b]#round $round: } ]] || failed[$b]="round $round: QEMU status $status, no figures"
        fi
        while read -r line; do
                name=$(sed -n 's/.*name=\([^ ]*\).*/\1/p' <<<"$line")
                mbps=$(sed -n 's/.*mbps=\([^ ]*\).*/\1/p' <<<"$line")
                iops=$(sed -n 's/.*iops=\([^ ]*\).*/\1/p' <<<"$line")
                results[$b,$name,mbps]+="$mbps "
                results[$b,$name,iops]+="$iops "
        done < <(grep '^VUTEST-BENCH:' <<<"$output")
        echo "  round $round $b: $(grep '^VUTEST-BENCH:' <<<"$output" | sed 's/.*name=\([^ ]*\).* mbps=\([^ ]*\) iops=\([^ ]*\)/\1 \2MB\/s \3IOPS/' | tr '\n' ' ')" >&2
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
}

median() {
        tr ' ' '\n' <<<"$1" | sort -g | awk 'NF { v[++n] = $1 } END {
                if (n == 0) { print "n/a"; exit }
                if (n % 2) print v[(n + 1) / 2]; else print (v[n / 2] + v[n / 2 + 1]) / 2 }'
}

with_unit() {
        if [[ $1 == n/a ]]; then echo n/a; else echo "$1 $2"; fi
}

ratio() {
        awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

echo "blk-bench: $rounds rounds, $secs s per test, qd $qd (4 KiB) / 4 (1 MiB), region $mib MiB;" \
        "backend on CPU $cpu_backend, QEMU (TCG) on CPU $cpu_qemu; pairs: ${caches[*]}" >&2
for ((r = 1; r <= rounds; r++)); do
        # Alternate who goes first, so drift on a shared machine hits both alike.
        order=("${backends[@]}")
        if ((r % 2 == 0)); then
                order=()
                for ((i = ${#backends[@]} - 1; i >= 0; i--)); do
                        order+=("${backends[i]}")
                done
        fi
        for b in "${order[@]}"; do
                [[ -z ${skip_reason[$b]:-} && -z ${failed[$b]:-} ]] || continue
                run_one "$b" "$r"
        done
done

for c in "${caches[@]}"; do
        if [[ $c == none ]]; then
                title="vu-sidecar cache=none vs qsd cache.direct=on (O_DIRECT both)"
        else
                title="vu-sidecar cache=writeback vs qsd's default (the host page cache both)"
        fi
        printf '\n%s\n' "$title"
        printf '%-16s %16s %16s %8s\n' "test (median)" "qsd" "vu-sidecar" "us/qsd"
        for t in "${tests[@]}"; do
                unit=iops label=IOPS
                if [[ $t == *-1m ]]; then
                        unit=mbps label=MB/s
                fi
                q=$(median "${results[qsd-$c,$t,$unit]:-}")
                s=$(median "${results[sidecar-$c,$t,$unit]:-}")
                printf '%-16s %16s %16s %8s\n' "$t" "$(with_unit "$q" "$label")" "$(with_unit "$s" "$label")" \
                        "$(ratio "$s" "$q")"
        done
        q=${idle_rss[qsd-$c]:-n/a} s=${idle_rss[sidecar-$c]:-n/a}
        printf '%-16s %16s %16s %8s\n' "idle RSS" "$q" "$s" "$(ratio "${s% MiB}" "${q% MiB}")"
        q=${idle_own[qsd-$c]:-n/a} s=${idle_own[sidecar-$c]:-n/a}
        printf '%-16s %16s %16s %8s\n' "  own memory" "$q" "$s" "$(ratio "${s% MiB}" "${q% MiB}")"
        printf '%-16s %16s %16s\n' "  guest RAM" "${idle_guest[qsd-$c]:-n/a}" "${idle_guest[sidecar-$c]:-n/a}"
        printf '%-16s %16s %16s\n' "idle CPU (5 s)" "${idle_cpu[qsd-$c]:-n/a}" "${idle_cpu[sidecar-$c]:-n/a}"
done

rc=0
for b in "${backends[@]}"; do
        if [[ -n ${skip_reason[$b]:-} ]]; then
                echo "note: $b skipped: ${skip_reason[$b]}"
        fi
        if [[ -n ${failed[$b]:-} ]]; then
                echo "error: $b failed to serve the benchmark: ${failed[$b]}"
                rc=1
        fi
done
exit "$rc"
