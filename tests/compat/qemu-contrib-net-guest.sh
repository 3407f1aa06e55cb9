#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Guest side of the vhost-user-bridge check in qemu-contrib.sh: run by the
# test guest's init (vutest.prog=vutest-net) on busybox. It brings the
# virtio-net interface up and pings the host-side peer (udp-peer.py, reached
# through QEMU's vhost-user-bridge built on our library), small and large
# frames, printing one verdict line per check as vutest-blk does:
#   VUTEST: PASS|FAIL <check> <details>   ...   VUTEST: DONE pass=N fail=N
pass=0
fail=0
ok() {
        echo "VUTEST: PASS $*"
        pass=$((pass + 1))
}
ko() {
        echo "VUTEST: FAIL $*"
        fail=$((fail + 1))
}

# ping_check NAME SIZE COUNT: every echo request must come back.
ping_check() {
        out=$(ping -c "$3" -s "$2" -w 30 10.0.2.2 2>&1)
        sent=$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p')
        got=$(echo "$out" | sed -n 's/.* \([0-9]*\) packets received.*/\1/p')
        if [ -n "$got" ] && [ "$got" = "$3" ] && [ "$sent" = "$3" ]; then
                ok "$1" "size=$2 sent=$sent received=$got"
        else
                ko "$1" "size=$2 sent=${sent:-?} received=${got:-?}: $(echo "$out" | tail -n 3 | tr '\n' ' ')"
        fi
}

echo "VUTEST: START steps=link,ping-small,ping-large"
dev=
for d in /sys/class/net/*; do
        [ "${d##*/}" = lo ] || { dev=${d##*/}; break; }
done
if [ -z "$dev" ]; then
        ko link "no network interface besides lo (virtio_net did not probe?)"
elif ip link set "$dev" up && ip addr add 10.0.2.15/24 dev "$dev"; then
        ok link "dev=$dev mac=$(cat "/sys/class/net/$dev/address")"
        ping_check ping-small 56 5
        ping_check ping-large 1400 5
else
        ko link "cannot configure $dev"
fi
echo "VUTEST: DONE pass=$pass fail=$fail"
