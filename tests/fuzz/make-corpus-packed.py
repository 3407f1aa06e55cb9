#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Writes the seed corpus of fuzz-packed under corpus/fuzz-packed/ (checked
# in; rerun after changing that target's input format): a plain batch, a
# chain across the end of a ring that is not a power of two, an indirect
# table, and a crash record in the inflight buffer.
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
NEXT, WRITE, INDIRECT = 1, 2, 4
AV, US = 1 << 7, 1 << 15
BUF = 0x8000        # guest address of the buffers (inside the 64 KiB region)
IMAGE = 0x1000      # guest address of the image (the descriptor ring)

# ops: low 3 bits what, high 5 bits argument
POP_PUSH, POP_HOLD, FLUSH, UNPOP, NOTIF, NOTIFY, AVAIL, PUSH_ONE = range(8)


def op(what, arg=0):
    return what | (arg << 3)


def write(name, data):
    d = os.path.join(HERE, "corpus", "fuzz-packed")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def hdr(qsize, avail, used, flags, ops):
    ops = bytes(ops).ljust(26, bytes([op(NOTIFY)]))
    return struct.pack("<BHHB", qsize - 1, avail, used, flags) + ops


def pdesc(addr, length, id_, flags):
    return struct.pack("<QIHH", addr, length, id_, flags)


def ring(qsize, slots):
    table = bytearray(16 * qsize)
    for pos, d in slots.items():
        table[16 * pos:16 * pos + 16] = d
    return bytes(table)


FRESH = 0x8000
ops = [op(AVAIL, 31), op(POP_HOLD), op(POP_HOLD), op(POP_PUSH, 4), op(FLUSH, 2), op(NOTIFY),
       op(NOTIF, 0), op(NOTIF, 1), op(POP_HOLD), op(UNPOP), op(POP_HOLD), op(PUSH_ONE)]

write("plain-batch", hdr(16, FRESH, FRESH, 1, ops) + ring(16, {
    0: pdesc(BUF, 16, 3, NEXT | AV), 1: pdesc(BUF + 0x100, 512, 3, WRITE | AV),
    2: pdesc(BUF + 0x400, 64, 7, AV),
    3: pdesc(BUF + 0x500, 64, 1, WRITE | AV)}))

# qsize 6, both positions at slot 4 of lap 1: the chain runs 4, 5, then 0 of lap 0
write("across-end", hdr(6, 4 | 0x8000, 4 | 0x8000, 1, ops) + ring(6, {
    4: pdesc(BUF, 8, 2, NEXT | AV), 5: pdesc(BUF + 8, 8, 2, NEXT | AV),
    0: pdesc(BUF + 0x100, 128, 2, WRITE | US)}))

table = pdesc(BUF, 16, 0, 0) + pdesc(BUF + 0x100, 32, 0, WRITE)
write("indirect", hdr(8, FRESH, FRESH, 0, ops) + ring(8, {
    0: pdesc(IMAGE + 0x800, len(table), 4, INDIRECT | AV)}).ljust(0x800, b"\0") + table)

# an inflight record (the spec's QueueRegionPacked) with one chain of two in flight, id 5
entries = bytearray(32 * 8)
for i in range(8):
    struct.pack_into("<BBHHHQHHIQ", entries, 32 * i, 0, 0, i + 1, 0, 0, 0, 0, 0, 0, 0)
struct.pack_into("<BBHHHQHHIQ", entries, 0, 1, 0, 1, 1, 2, 0, 5, NEXT | AV, 16, BUF)
struct.pack_into("<BBHHHQHHIQ", entries, 32, 0, 0, 2, 0, 0, 0, 5, WRITE | AV, 64, BUF + 0x100)
header = struct.pack("<QHHHHHHBB7x", 0, 1, 64, 2, 2, 0, 0, 1, 1)
write("inflight-record", hdr(8, FRESH, FRESH, 2, ops) + header + bytes(entries) + ring(8, {
    2: pdesc(BUF + 0x200, 8, 1, AV)}))
