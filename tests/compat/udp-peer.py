#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Host side of the vhost-user-bridge check in qemu-contrib.sh.

QEMU's tests/vhost-user-bridge forwards each Ethernet frame the guest sends
as one UDP datagram and injects each datagram it receives as a frame into the
guest. This peer answers, as host 10.0.2.2, the guest's ARP requests and ICMP
echo requests, so a ping in the guest crosses the bridge (and so our
libvhost-user) both ways. It prints one line per frame it answers and its
totals on SIGTERM.

Usage: udp-peer.py LISTEN_PORT BRIDGE_PORT   (both on 127.0.0.1)
"""
import signal
import socket
import struct
import sys

PEER_IP = bytes([10, 0, 2, 2])
PEER_MAC = bytes([0x52, 0x54, 0x00, 0x00, 0x00, 0x02])


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def answer(frame):
    """The reply frame to a guest frame, and what it was, or (None, reason)."""
    if len(frame) < 14:
        return None, "short frame (%d bytes)" % len(frame)
    dst, src, etype = frame[0:6], frame[6:12], struct.unpack("!H", frame[12:14])[0]
    body = frame[14:]
    if etype == 0x0806 and len(body) >= 28:
        op = struct.unpack("!H", body[6:8])[0]
        sha, spa, tpa = body[8:14], body[14:18], body[24:28]
        if op == 1 and tpa == PEER_IP:
            arp = body[0:6] + struct.pack("!H", 2) + PEER_MAC + PEER_IP + sha + spa
            return src + PEER_MAC + frame[12:14] + arp, "arp-reply"
        return None, "arp op %d for %s" % (op, ".".join(map(str, tpa)))
    if etype == 0x0800 and len(body) >= 20:
        ihl = (body[0] & 0x0F) * 4
        total = struct.unpack("!H", body[2:4])[0]
        proto, sip, dip = body[9], body[12:16], body[16:20]
        if proto == 1 and dip == PEER_IP and total <= len(body) and body[ihl] == 8:
            icmp = bytearray(body[ihl:total])
            icmp[0] = 0
            icmp[2:4] = b"\0\0"
            icmp[2:4] = struct.pack("!H", checksum(bytes(icmp)))
            ip = bytearray(body[:ihl])
            ip[12:16], ip[16:20] = dip, sip
            ip[10:12] = b"\0\0"
            ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
            return src + PEER_MAC + frame[12:14] + bytes(ip) + bytes(icmp), "icmp-echo-reply len=%d" % len(icmp)
        return None, "ipv4 proto %d" % proto
    return None, "ethertype 0x%04x" % etype


def main():
    listen_port, bridge_port = int(sys.argv[1]), int(sys.argv[2])
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", listen_port))
    counts = {"frames": 0, "answered": 0}

    def totals(*_):
        print("peer: totals frames=%d answered=%d" % (counts["frames"], counts["answered"]), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, totals)
    print("peer: listening on 127.0.0.1:%d, answering to 127.0.0.1:%d" % (listen_port, bridge_port), flush=True)
    while True:
        frame = sock.recv(65536)
        counts["frames"] += 1
        reply, what = answer(frame)
        if reply is None:
            print("peer: ignored %s" % what, flush=True)
            continue
        sock.sendto(reply, ("127.0.0.1", bridge_port))
        counts["answered"] += 1
        print("peer: sent %s" % what, flush=True)


if __name__ == "__main__":
    main()
