#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the small seed corpora under corpus/<target>/ (checked in; rerun
# after changing an input format). Each seed is one well-formed example the
# fuzzer can mutate from: a few valid messages, a few ring layouts, and a
# complete negotiation as a message stream.
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
QVA = 0x7F0000000000


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def hdr(req, size, flags=1):
    return struct.pack("<III", req, flags, size)


def region(gpa, size, qva, off=0):
    return struct.pack("<QQQQ", gpa, size, qva, off)


def vring_addr(idx, desc, used, avail, log=0, flags=0):
    return struct.pack("<IIQQQQ", idx, flags, desc, used, avail, log)


# ---- fuzz-message: [fd count][header][payload] -------------------------------
msgs = {
    "get-features": (0, 1, b""),
    "set-features": (0, 2, struct.pack("<Q", (1 << 32) | (1 << 30))),
    "set-mem-table": (1, 5, struct.pack("<II", 1, 0) + region(0, 0x100000, QVA)),
    "set-log-base": (1, 6, struct.pack("<QQ", 4096, 0)),
    "set-vring-num": (0, 8, struct.pack("<II", 0, 256)),
    "set-vring-addr": (0, 9, vring_addr(0, QVA + 0x1000, QVA + 0x3000, QVA + 0x2000)),
    "set-vring-kick": (1, 12, struct.pack("<Q", 0)),
    "set-vring-call-nofd": (0, 13, struct.pack("<Q", 0x100)),
    "get-config": (0, 24, struct.pack("<III", 0, 8, 0) + bytes(8)),
    "get-inflight-fd": (0, 31, struct.pack("<QQHH", 0, 0, 2, 256)),
    "set-inflight-fd": (1, 32, struct.pack("<QQHH", 8192, 0, 2, 256)),
    "add-mem-reg": (1, 37, struct.pack("<Q", 0) + region(0x100000, 0x1000, QVA + 0x100000)),
    "set-status": (0, 39, struct.pack("<Q", 15)),
}
for name, (nfds, req, payload) in msgs.items():
    write("fuzz-message", name, bytes([nfds]) + hdr(req, len(payload)) + payload)

# ---- fuzz-descriptors: 12-byte header + memory image at gpa 0x1000 ----------
# header: num, head, desc_off/16, iov_max, mode, pops, reserved
BUF = 0x8000


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def ring_image(descs, heads, qsize=16):
    table = b"".join(descs).ljust(16 * qsize, b"\0")
    avail = struct.pack("<HH", 0, len(heads)) + b"".join(struct.pack("<H", h) for h in heads)
    avail = avail.ljust(6 + 2 * qsize, b"\0")
    return table + avail


NEXT, WRITE, INDIRECT = 1, 2, 4
dhdr = lambda mode, qsize_log2=4: struct.pack("<HHHHBBH", 16, 0, 0, 64, mode | (qsize_log2 << 2), 8, 0)
write("fuzz-descriptors", "one-buffer",
      dhdr(2) + ring_image([desc(BUF, 512)], [0]))
write("fuzz-descriptors", "out-then-in",
      dhdr(2) + ring_image([desc(BUF, 16, NEXT, 1), desc(BUF + 0x100, 512, NEXT | WRITE, 2),
                            desc(BUF + 0x400, 1, WRITE)], [0]))
write("fuzz-descriptors", "indirect",
      dhdr(2) + ring_image([desc(0x1000 + 0x800, 48, INDIRECT)], [0]).ljust(0x800, b"\0")
      + desc(BUF, 16, NEXT, 1) + desc(BUF + 0x40, 16, NEXT | WRITE, 2) + desc(BUF + 0x80, 16, WRITE))
write("fuzz-descriptors", "cross-region",
      dhdr(2) + ring_image([desc(0x10000 - 0x80, 0x100)], [0]))
write("fuzz-descriptors", "loop",
      dhdr(0) + ring_image([desc(BUF, 8, NEXT, 1), desc(BUF, 8, NEXT, 0)], [0]))
write("fuzz-descriptors", "two-heads-event-idx",
      dhdr(2 | 0x20) + ring_image([desc(BUF, 64), desc(BUF + 64, 64, WRITE)], [0, 1]))

# packed rings (mode bit 6, driver wrap counter 1 in bit 7): descriptors carry id and AVAIL/USED bits
AV, US = 1 << 7, 1 << 15


def pdesc(addr, length, id_, flags):
    return struct.pack("<QIHH", addr, length, id_, flags)


phdr = struct.pack("<HHHHBBH", 16, 0, 0, 64, 2 | (4 << 2) | 0x40 | 0x80, 8, 0)
write("fuzz-descriptors", "packed-chains",
      phdr + pdesc(BUF, 16, 3, NEXT | AV) + pdesc(BUF + 0x100, 512, 3, WRITE | AV) + pdesc(BUF + 0x1000, 64, 7, AV))
write("fuzz-descriptors", "packed-indirect",
      phdr + pdesc(0x1000 + 0x800, 32, 0, INDIRECT | AV).ljust(0x800, b"\0")
      + pdesc(BUF, 16, 0, 0) + pdesc(BUF + 0x100, 16, 0, WRITE))

# ---- fuzz-dispatch: chunks of [fds][header][u16 len][payload] -----------------


def chunk(req, payload=b"", nfds=0, memfd=False, flags=1 | 8):
    return bytes([nfds | (0x10 if memfd else 0)]) + hdr(req, len(payload), flags) \
        + struct.pack("<H", len(payload)) + payload


negotiate = (chunk(3) + chunk(1) + chunk(15)
             + chunk(16, struct.pack("<Q", (1 << 3) | (1 << 0) | (1 << 15) | (1 << 12) | (1 << 1)))
             + chunk(2, struct.pack("<Q", (1 << 32) | (1 << 30) | (1 << 28))))
write("fuzz-dispatch", "negotiate", negotiate)
queue = (chunk(5, struct.pack("<II", 1, 0) + region(0, 0x10000, QVA), 1, True)
         + chunk(8, struct.pack("<II", 0, 16))
         + chunk(9, vring_addr(0, QVA + 0x1000, QVA + 0x2000, QVA + 0x1100))
         + chunk(10, struct.pack("<II", 0, 0))
         + chunk(12, struct.pack("<Q", 0), 1)
         + chunk(13, struct.pack("<Q", 0), 1)
         + chunk(18, struct.pack("<II", 0, 1))
         + chunk(35, struct.pack("<II", 0, 0))
         + chunk(11, struct.pack("<II", 0, 0)))
write("fuzz-dispatch", "queue-setup", negotiate + queue)
write("fuzz-dispatch", "inflight-and-slots",
      negotiate + chunk(31, struct.pack("<QQHH", 0, 0, 2, 16)) + chunk(36)
      + chunk(37, struct.pack("<Q", 0) + region(0x100000, 0x10000, QVA + 0x100000), 1, True)
      + chunk(38, struct.pack("<Q", 0) + region(0x100000, 0x10000, QVA + 0x100000)))
write("fuzz-dispatch", "log-and-reset",
      negotiate + queue + chunk(6, struct.pack("<QQ", 4096, 0), 1, True) + chunk(34) + chunk(4))
