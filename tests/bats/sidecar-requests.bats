#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar's blk request handling as a guest driver sees it, through a small
# vhost-user frontend in Python that shares memfd "guest memory", drives one
# split ring and reads the status byte of each request: data lands in the
# image at the right place, every malformed or unsupported request gets the
# status the virtio spec asks for (IOERR / UNSUPP) without hurting the
# requests after it, a ring the library must give up on costs only that
# connection, and the I/O limits slow a burst down instead of dropping it.

setup_file() {
        [[ -n ${VU_SIDECAR:-} ]] || return 0
        export BLKFE="$BATS_FILE_TMPDIR/blkfe.py"
        cat >"$BLKFE" <<'PY'
import mmap, os, select, socket, struct, sys, time

GET_FEATURES, SET_FEATURES, SET_OWNER, SET_MEM_TABLE = 1, 2, 3, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, SET_VRING_KICK, SET_VRING_CALL = 8, 9, 10, 12, 13
GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, SET_VRING_ENABLE, GET_CONFIG = 15, 16, 18, 24
F_PROTOCOL, F_VERSION_1 = 1 << 30, 1 << 32
PF_MQ, PF_CONFIG = 1 << 0, 1 << 9
T_IN, T_OUT, T_FLUSH, T_GET_ID, T_DISCARD, T_WZ = 0, 1, 4, 8, 11, 13
D_NEXT, D_WRITE = 1, 2
MEM, QVA, NUM = 1 << 20, 0x7f1200000000, 64
DESC, AVAIL, USED, BUF = 0x0, 0x1000, 0x2000, 0x10000

class Frontend:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.mfd = os.memfd_create('guest')
        os.ftruncate(self.mfd, MEM)
        self.m = mmap.mmap(self.mfd, MEM)
        self.kick, self.call = os.eventfd(0), os.eventfd(0, os.EFD_NONBLOCK)
        self.avail_idx = self.used_seen = 0
        self.next_buf = BUF

    def send(self, req, payload=b'', fds=()):
        data = struct.pack('<III', req, 1, len(payload)) + payload
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack('%di' % len(fds), *fds))] if fds else []
        self.s.sendmsg([data], anc)

    def reply(self):
        def rx(n):
            b = b''
            while len(b) < n:
                c = self.s.recv(n - len(b))
                if not c:
                    raise EOFError
                b += c
            return b
        req, flags, size = struct.unpack('<III', rx(12))
        return rx(size)

    def u64(self, req):
        self.send(req)
        return struct.unpack('<Q', self.reply())[0]

    def setup(self, extra=0):
        f = self.u64(GET_FEATURES)
        want = f & (F_PROTOCOL | F_VERSION_1 | (1 << 9) | (1 << 13) | (1 << 14) | (1 << 5) | (1 << 6) | (1 << 2) | extra)
        self.send(SET_FEATURES, struct.pack('<Q', want))
        pf = self.u64(GET_PROTOCOL_FEATURES)
        self.send(SET_PROTOCOL_FEATURES, struct.pack('<Q', pf & (PF_MQ | PF_CONFIG)))
        self.send(SET_OWNER)
        self.send(SET_MEM_TABLE, struct.pack('<II', 1, 0) + struct.pack('<QQQQ', 0, MEM, QVA, 0), [self.mfd])
        self.send(SET_VRING_NUM, struct.pack('<II', 0, NUM))
        self.send(SET_VRING_ADDR, struct.pack('<IIQQQQ', 0, 0, QVA + DESC, QVA + USED, QVA + AVAIL, 0))
        self.send(SET_VRING_BASE, struct.pack('<II', 0, 0))
        self.send(SET_VRING_CALL, struct.pack('<Q', 0), [self.call])
        self.send(SET_VRING_KICK, struct.pack('<Q', 0), [self.kick])
        self.send(SET_VRING_ENABLE, struct.pack('<II', 0, 1))
        return want

    def capacity(self):
        self.send(GET_CONFIG, struct.pack('<III', 0, 64, 0) + bytes(64))
        return struct.unpack_from('<Q', self.reply(), 12)[0]

    def buf(self, data=b'', size=None):
        size = len(data) if size is None else size
        gpa = self.next_buf
        self.next_buf += (size + 4095) & ~4095 or 4096
        self.m[gpa:gpa + len(data)] = data
        return gpa

    def submit(self, bufs, timeout=5):
        """bufs: [(gpa, len, writable)] -> (used_len, status_gpa) after completion, or None on timeout."""
        # Requests are completed one at a time, so the descriptor table is reused from 0.
        for i, (gpa, ln, w) in enumerate(bufs):
            flags = (D_WRITE if w else 0) | (D_NEXT if i + 1 < len(bufs) else 0)
            struct.pack_into('<QIHH', self.m, DESC + 16 * i, gpa, ln, flags, i + 1)
        struct.pack_into('<H', self.m, AVAIL + 4 + 2 * (self.avail_idx % NUM), 0)
        self.avail_idx = (self.avail_idx + 1) & 0xffff
        struct.pack_into('<H', self.m, AVAIL + 2, self.avail_idx)
        os.eventfd_write(self.kick, 1)
        end = time.time() + timeout
        while time.time() < end:
            used = struct.unpack_from('<H', self.m, USED + 2)[0]
            if used != self.used_seen:
                uid, ulen = struct.unpack_from('<II', self.m, USED + 4 + 8 * (self.used_seen % NUM))
                self.used_seen = (self.used_seen + 1) & 0xffff
                return uid, ulen
            select.select([self.call], [], [], 0.05)
            try:
                os.eventfd_read(self.call)
            except BlockingIOError:
                pass
        return None

    def post_reads(self, sectors):
        """Publish one 512-byte read per sector at once (no waiting); returns the status gpas."""
        sts, d = [], 0
        for sec in sectors:
            h, data, st = self.buf(struct.pack('<IIQ', T_IN, 0, sec)), self.buf(size=512), self.buf(b'\xff')
            head = d
            for i, (gpa, ln, w) in enumerate([(h, 16, False), (data, 512, True), (st, 1, True)]):
                struct.pack_into('<QIHH', self.m, DESC + 16 * d, gpa, ln, (D_WRITE if w else 0) | (D_NEXT if i < 2 else 0), d + 1)
                d += 1
            struct.pack_into('<H', self.m, AVAIL + 4 + 2 * (self.avail_idx % NUM), head)
            self.avail_idx = (self.avail_idx + 1) & 0xffff
            sts.append(st)
        struct.pack_into('<H', self.m, AVAIL + 2, self.avail_idx)
        os.eventfd_write(self.kick, 1)
        return sts

    def request(self, rtype, sector, data_out=b'', data_in=0, hdr=None, status=True, out_split=False):
        h = hdr if hdr is not None else struct.pack('<IIQ', rtype, 0, sector)
        bufs = []
        if out_split or not data_out:
            bufs.append((self.buf(h), len(h), False))
            if data_out:
                bufs.append((self.buf(data_out), len(data_out), False))
        else:
            bufs.append((self.buf(h + data_out), len(h) + len(data_out), False))
        inbuf = None
        if data_in:
            inbuf = self.buf(size=data_in)
            bufs.append((inbuf, data_in, True))
        st = None
        if status:
            st = self.buf(b'\xff')
            bufs.append((st, 1, True))
        r = self.submit(bufs)
        if r is None:
            return None
        data = bytes(self.m[inbuf:inbuf + data_in]) if inbuf else b''
        return (self.m[st] if st is not None else None), r[1], data
PY
}

setup() {
        [[ -n ${VU_SIDECAR:-} ]] || skip "VU_SIDECAR is unset: this build has no vu-sidecar target"
        tmp=$BATS_TEST_TMPDIR
        img=$tmp/disk.img
        truncate -s 64M "$img"
        sock=$tmp/blk.sock
        pid=
}

teardown() {
        if [[ -n $pid ]]; then
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        fi
}

# start_sidecar SPEC [OPTION...] — serve $img on $sock with SPEC added to the --blk value.
start_sidecar() {
        local spec=$1 i
        shift
        "$VU_SIDECAR" --control none --runtime-dir "$tmp/run" --log-level debug \
                --blk "path=$img,socket=$sock${spec:+,$spec}" "$@" >"$tmp/sidecar.log" 2>&1 3>&- &
        pid=$!
        for ((i = 0; i < 100; i++)); do
                [[ -S $sock ]] && return 0
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        cat "$tmp/sidecar.log" >&2
        return 1
}

stop_sidecar() {
        local rc=0
        kill -TERM "$pid"
        wait "$pid" || rc=$?
        pid=
        if ((rc != 0)) || grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:' "$tmp/sidecar.log"; then
                cat "$tmp/sidecar.log" >&2
                echo "vu-sidecar exited with $rc" >&2
                return 1
        fi
}

# fe PYTHON [ARG...] — run PYTHON (ARGs in sys.argv[2:]) with a connected, set-up Frontend `fe` (statuses: 0 OK, 1 IOERR, 2 UNSUPP).
fe() {
        python3 - "$sock" "${@:2}" <<PY
import sys; sys.path.insert(0, "$(dirname "$BLKFE")")
from blkfe import *
fe = Frontend(sys.argv[1])
features = fe.setup()
$1
PY
}

@test "written data lands in the image at the sector asked, and reads back" {
        start_sidecar ""
        run fe '
pat = bytes((i * 7) & 0xff for i in range(8192))
print(fe.request(T_OUT, 24, data_out=pat, out_split=True)[:2])
print(fe.request(T_OUT, 100, data_out=pat[:512])[:2])   # header and data in one buffer
st, ln, data = fe.request(T_IN, 24, data_in=8192)
print(st, ln, data == pat)
print(fe.request(T_FLUSH, 0)[:2])'
        echo "$output"
        [[ ${lines[0]} == "(0, 1)" ]]
        [[ ${lines[1]} == "(0, 1)" ]]
        [[ ${lines[2]} == "0 8193 True" ]]
        [[ ${lines[3]} == "(0, 1)" ]]
        stop_sidecar
        # What a user of the image sees, independent of the daemon.
        python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
pat = bytes((i * 7) & 0xff for i in range(8192))
assert d[24 * 512:24 * 512 + 8192] == pat, "data not at sector 24"
assert d[100 * 512:101 * 512] == pat[:512], "data not at sector 100"
assert d[:24 * 512] == bytes(24 * 512), "bytes before sector 24 changed"' "$img"
}

@test "GET_ID returns the serial; capacity is the image size in sectors" {
        start_sidecar "serial=SN-77"
        run fe '
print(fe.capacity())
st, ln, data = fe.request(T_GET_ID, 0, data_in=20)
print(st, ln, data.rstrip(b"\0").decode())'
        echo "$output"
        [[ ${lines[0]} == 131072 ]]
        [[ ${lines[1]} == "0 21 SN-77" ]]
        stop_sidecar
}

@test "malformed and unsupported requests get IOERR or UNSUPP, and the next request still works" {
        start_sidecar ""
        run fe '
print("beyond-end", fe.request(T_IN, 131072, data_in=512)[0])
print("straddling-end", fe.request(T_IN, 131071, data_in=1024)[0])
print("huge-sector", fe.request(T_IN, (1 << 64) - 1, data_in=512)[0])
print("odd-length", fe.request(T_IN, 0, data_in=1000)[0])
print("short-header", fe.request(T_IN, 0, hdr=bytes(8), data_in=512)[0])
print("unknown-type", fe.request(99, 0)[0])
print("barrier-bit", fe.request(0x80000000 | T_IN, 0, data_in=512)[0])
print("discard-unmap", fe.request(T_DISCARD, 0, data_out=struct.pack("<QII", 8, 8, 1))[0])
print("wz-unknown-flag", fe.request(T_WZ, 0, data_out=struct.pack("<QII", 8, 8, 4))[0])
print("discard-2-segs", fe.request(T_DISCARD, 0, data_out=struct.pack("<QII", 8, 8, 0) * 2)[0])
print("discard-beyond", fe.request(T_DISCARD, 0, data_out=struct.pack("<QII", 131070, 8, 0))[0])
print("no-status", fe.request(T_IN, 0, status=False)[1])
print("after", fe.request(T_IN, 0, data_in=512)[0])'
        echo "$output"
        for want in "beyond-end 1" "straddling-end 1" "huge-sector 1" "odd-length 1" "short-header 1" \
                "unknown-type 2" "barrier-bit 2" "discard-unmap 2" "wz-unknown-flag 2" "discard-2-segs 1" \
                "discard-beyond 1" "no-status 0" "after 0"; do
                grep -qx -- "$want" <<<"$output" || { echo "missing: $want"; return 1; }
        done
        grep -q "bad read request: sector 131072" "$tmp/sidecar.log"
        grep -q "has no writable status byte" "$tmp/sidecar.log"
        stop_sidecar
}

@test "write-zeroes zeroes the range (with and without unmap); discard is accepted" {
        start_sidecar ""
        run fe '
pat = b"\xab" * 8192
fe.request(T_OUT, 0, data_out=pat)
print("wz", fe.request(T_WZ, 0, data_out=struct.pack("<QII", 2, 4, 0))[0])
print("wz-unmap", fe.request(T_WZ, 0, data_out=struct.pack("<QII", 10, 2, 1))[0])
st, ln, data = fe.request(T_IN, 0, data_in=8192)
print("zeroed", data[1024:3072] == bytes(2048) and data[5120:6144] == bytes(1024))
print("kept", data[:1024] == pat[:1024] and data[3072:5120] == pat[3072:5120] and data[6144:] == pat[6144:])
print("discard", fe.request(T_DISCARD, 0, data_out=struct.pack("<QII", 64, 64, 0))[0])'
        echo "$output"
        for want in "wz 0" "wz-unmap 0" "zeroed True" "kept True" "discard 0"; do
                grep -qx -- "$want" <<<"$output" || { echo "missing: $want"; return 1; }
        done
        stop_sidecar
}

@test "a read-only disk refuses writes, discards and write-zeroes with IOERR and keeps the image intact" {
        printf 'original' | dd of="$img" conv=notrunc status=none
        start_sidecar "read-only=on"
        run fe '
print("ro-offered", bool(features & (1 << 5)))
print("write", fe.request(T_OUT, 0, data_out=b"x" * 512)[0])
print("wz", fe.request(T_WZ, 0, data_out=struct.pack("<QII", 0, 8, 0))[0])
print("read", fe.request(T_IN, 0, data_in=512)[2][:8])'
        echo "$output"
        grep -qx "ro-offered True" <<<"$output"
        grep -qx "write 1" <<<"$output"
        grep -qx "wz [12]" <<<"$output"
        grep -qx "read b'original'" <<<"$output"
        stop_sidecar
        [[ $(head -c 8 "$img") == original ]]
}

@test "a ring pointing outside guest memory costs only that connection" {
        start_sidecar ""
        run fe '
struct.pack_into("<QIHH", fe.m, DESC, 1 << 40, 512, 0, 0)   # a buffer far outside the 1 MiB of memory
struct.pack_into("<H", fe.m, AVAIL + 4, 0)
struct.pack_into("<H", fe.m, AVAIL + 2, 1)
os.eventfd_write(fe.kick, 1)
time.sleep(0.5)
try:
    fe.u64(GET_FEATURES)
    print("still-connected")
except (EOFError, ConnectionResetError, BrokenPipeError):
    print("disconnected")'
        echo "$output"
        [[ $output == disconnected ]]
        kill -0 "$pid"
        # The next frontend is served normally.
        run fe 'print(fe.request(T_IN, 0, data_in=512)[0])'
        [[ $output == 0 ]]
        stop_sidecar
}

@test "I/O limits delay a burst instead of failing it (iops=20: 40 reads take about a second or more)" {
        start_sidecar "iops=20"
        run fe '
t = time.time()
sts = [fe.request(T_IN, i, data_in=512)[0] for i in range(40)]
print(set(sts), round(time.time() - t, 2))'
        echo "$output"
        [[ ${lines[0]} == "{0} "* ]]
        # 20 pass at once (a full bucket), the other 20 need at least 0.95 s of refill.
        python3 -c 'import sys; assert float(sys.argv[1]) >= 0.9, sys.argv[1]' "${lines[0]#\{0\} }"
        stop_sidecar
}

@test "on tmpfs (which may refuse O_DIRECT or ZERO_RANGE, kernel-dependent) writes and write-zeroes stay right with either engine" {
        [[ $(stat -f -c %T /dev/shm 2>/dev/null) == tmpfs ]] || skip "/dev/shm is not a tmpfs here"
        local d engine
        d=$(mktemp -d /dev/shm/vu-sidecar-test.XXXXXX)
        img=$d/disk.img
        truncate -s 8M "$img"
        for engine in threads auto; do
                start_sidecar "" --io-engine "$engine"
                run fe '
pat = b"\x5a" * 65536
print("write", fe.request(T_OUT, 0, data_out=pat)[0])
print("wz", fe.request(T_WZ, 0, data_out=struct.pack("<QII", 16, 64, 0))[0])
st, ln, data = fe.request(T_IN, 0, data_in=65536)
print("result", data[:8192] == pat[:8192] and data[8192:40960] == bytes(32768) and data[40960:] == pat[40960:])'
                echo "$output"
                grep -qx "write 0" <<<"$output"
                grep -qx "wz 0" <<<"$output"
                grep -qx "result True" <<<"$output"
                stop_sidecar
        done
        rm -rf "$d"
}

@test "SIGTERM with requests in flight: they complete and are handed back before the daemon exits 0" {
        start_sidecar "iops=2"
        run fe '
sts = fe.post_reads(range(6))
time.sleep(0.3)                       # 2 pass at once, 4 wait for the I/O limit
print("used-before", struct.unpack_from("<H", fe.m, USED + 2)[0])
os.kill(int(sys.argv[2]), 15)
end = time.time() + 5
while struct.unpack_from("<H", fe.m, USED + 2)[0] < 6 and time.time() < end:
    time.sleep(0.02)
print("used-after", struct.unpack_from("<H", fe.m, USED + 2)[0])
print("statuses", [fe.m[st] for st in sts])' "$pid"
        echo "$output"
        grep -qx "used-before 2" <<<"$output"
        grep -qx "used-after 6" <<<"$output"
        grep -qx "statuses \[0, 0, 0, 0, 0, 0\]" <<<"$output"
        local rc=0
        wait "$pid" || rc=$?
        pid=
        cat "$tmp/sidecar.log"
        [[ $rc -eq 0 ]]
        grep -q "Received SIGTERM: stopping once 4 in-flight request(s) complete" "$tmp/sidecar.log"
}
