#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# The test guest's network checks (vutest.prog=vutest-net, run by init): bring
# eth0 up with vutest.ip=ADDR/LEN, ping vutest.peer, then a TCP transfer each
# way of vutest.mib MiB whose sha256 both ends compare: the guest sends random
# bytes to PEER:5000 and prints their hash, then listens on 5001 for the
# host's bytes and prints theirs. Verdicts are VUTEST lines on the console,
# ending with "VUTEST: DONE pass=N fail=M", like vutest-blk.
ip=
peer=
mib=4
for w in $(cat /proc/cmdline); do
        case $w in
        vutest.ip=*) ip=${w#vutest.ip=} ;;
        vutest.peer=*) peer=${w#vutest.peer=} ;;
        vutest.mib=*) mib=${w#vutest.mib=} ;;
        esac
done
pass=0
fail=0
ok() { echo "VUTEST: PASS $*"; pass=$((pass + 1)); }
bad() { echo "VUTEST: FAIL $*"; fail=$((fail + 1)); }
done_() { echo "VUTEST: DONE pass=$pass fail=$fail"; }

if [ -z "$ip" ] || [ -z "$peer" ]; then
        bad "args: vutest.ip= and vutest.peer= are required"
        done_
        exit 0
fi
if ! ip link set eth0 up || ! ip addr add "$ip" dev eth0; then
        bad "link: cannot configure eth0 with $ip"
        done_
        exit 0
fi
echo "VUTEST: INFO eth0 $(cat /sys/class/net/eth0/address) mtu $(cat /sys/class/net/eth0/mtu)"

# The peer may still be coming up: a few tries.
i=0
until ping -c 3 -W 2 "$peer" >/tmp/ping.log 2>&1; do
        i=$((i + 1))
        if [ $i -ge 5 ]; then
                break
        fi
        sleep 1
done
if [ $i -lt 5 ]; then
        ok "ping $(grep -o '[0-9]* packets received' /tmp/ping.log)"
else
        bad "ping: no answer from $peer: $(tail -n 2 /tmp/ping.log | tr '\n' ' ')"
        done_
        exit 0
fi

# Guest → host.
dd if=/dev/urandom of=/tmp/out bs=65536 count=$((mib * 16)) 2>/dev/null
echo "VUTEST: SHA256 out $(sha256sum /tmp/out | cut -d' ' -f1)"
i=0
until nc "$peer" 5000 </tmp/out; do
        i=$((i + 1))
        if [ $i -ge 10 ]; then
                break
        fi
        sleep 1
done
if [ $i -lt 10 ]; then
        ok "tcp-out $((mib * 1048576)) bytes"
else
        bad "tcp-out: cannot connect to $peer:5000"
fi

# Host → guest.
echo "VUTEST: LISTEN 5001"
nc -l -p 5001 >/tmp/in
echo "VUTEST: SHA256 in $(sha256sum /tmp/in | cut -d' ' -f1) $(wc -c </tmp/in)"
ok "tcp-in"
done_
