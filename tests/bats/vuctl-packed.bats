#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vuctl queues and dump on a packed virtqueue whose every slot is known: a
# minimal Python vhost-user frontend negotiates RING_PACKED and EVENT_IDX,
# sets up a ring of 8 in lap 1, submits one GET_ID request (slots 0-2) and,
# once it is answered, marks slot 3 (an indirect table) available without a
# kick. queues and dump must show the wrap counters, both event areas and
# each slot's state as the device sees it.

load vuctl-helpers

setup() {
        vuctl_require
        python3 -c 'import os, socket; os.memfd_create; os.eventfd; socket.send_fds' 2>/dev/null ||
                skip "python3 lacks memfd_create/eventfd/send_fds (needs 3.10+)"
        start_sidecar
        python3 - "$TEST_DIR/blk0.sock" "$TEST_DIR/frontend.ready" >"$TEST_DIR/frontend.log" 2>&1 <<'EOF' &
import mmap, os, socket, struct, sys, time

sock_path, ready = sys.argv[1], sys.argv[2]
QVA, MEM = 0x7f0000000000, 1 << 20
DESC, DRIVER_EV, DEVICE_EV, HDR, DATA, STATUS, TABLE = 0x1000, 0x2000, 0x3000, 0x4000, 0x5000, 0x6000, 0x7000
NUM = 8
NEXT, WRITE, INDIRECT, AVAIL, USED = 1, 2, 4, 1 << 7, 1 << 15
F_INDIRECT, F_EVENT_IDX, F_VERSION_1, F_RING_PACKED = 1 << 28, 1 << 29, 1 << 32, 1 << 34

fd = os.memfd_create("guest")
os.ftruncate(fd, MEM)
mem = mmap.mmap(fd, MEM)
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)

def msg(req, payload=b"", fds=(), reply=False):
    data = struct.pack("<III", req, 0x1, len(payload)) + payload
    if fds:
        socket.send_fds(s, [data], list(fds))
    else:
        s.sendall(data)
    if reply:
        hdr = s.recv(12, socket.MSG_WAITALL)
        _, _, size = struct.unpack("<III", hdr)
        return s.recv(size, socket.MSG_WAITALL)

features = struct.unpack("<Q", msg(1, reply=True))[0]          # GET_FEATURES
want = F_VERSION_1 | F_RING_PACKED | F_EVENT_IDX | F_INDIRECT
if features & want != want:
    print("the backend does not offer", hex(want & ~features))
    sys.exit(1)
msg(3)                                                         # SET_OWNER
msg(2, struct.pack("<Q", want))                                # SET_FEATURES
msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, MEM, QVA, 0), [fd])  # SET_MEM_TABLE
msg(8, struct.pack("<II", 0, NUM))                             # SET_VRING_NUM
msg(10, struct.pack("<II", 0, 0x80008000))                     # SET_VRING_BASE: slot 0, both wrap counters 1
# SET_VRING_ADDR: for a packed ring "used" is the device event area, "avail" the driver's.
msg(9, struct.pack("<IIQQQQ", 0, 0, QVA + DESC, QVA + DEVICE_EV, QVA + DRIVER_EV, 0))
# The driver asks for a call when the device has used slot 5 of lap 1 (offset 5, wrap 1).
mem[DRIVER_EV:DRIVER_EV + 4] = struct.pack("<HH", 0x8005, 2)
call = os.eventfd(0, os.EFD_NONBLOCK)
kick = os.eventfd(0)
msg(13, struct.pack("<Q", 0), [call])                          # SET_VRING_CALL
msg(12, struct.pack("<Q", 0), [kick])                          # SET_VRING_KICK

def desc(i, addr, length, buf_id, flags, base=DESC):
    mem[base + 16 * i: base + 16 * i + 16] = struct.pack("<QIHH", addr, length, buf_id, flags)

# Buffer 7 in slots 0-2: GET_ID (type 8) header, 20-byte id buffer, status byte. Lap 1:
# AVAIL set, USED clear. The first slot's flags go last, so the chain appears whole.
mem[HDR:HDR + 16] = struct.pack("<IIQ", 8, 0, 0)
desc(1, DATA, 20, 7, AVAIL | NEXT | WRITE)
desc(2, STATUS, 1, 7, AVAIL | WRITE)
desc(0, HDR, 16, 7, AVAIL | NEXT)
os.eventfd_write(kick, 1)

for _ in range(100):
    flags = struct.unpack("<H", mem[DESC + 14:DESC + 16])[0]
    if flags & USED:
        break
    time.sleep(0.05)
else:
    print("the backend never used slot 0")
    sys.exit(1)
buf_id, = struct.unpack("<H", mem[DESC + 12:DESC + 14])
print("id:", mem[DATA:DATA + 20].rstrip(b"\0").decode(), "status:", mem[STATUS], "used id:", buf_id)
# Buffer 9 in slot 3: an indirect table of three packed entries, available, never kicked.
desc(0, HDR, 16, 0, 0, base=TABLE)
desc(1, DATA, 512, 0, WRITE, base=TABLE)
desc(2, STATUS, 1, 0, WRITE, base=TABLE)
time.sleep(0.3)  # past any polling the backend does after its work
desc(3, TABLE, 48, 9, AVAIL | INDIRECT)
open(ready, "w").close()
time.sleep(60)
EOF
        FRONTEND_PID=$!
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/frontend.ready" ]] && return 0
                kill -0 "$FRONTEND_PID" 2>/dev/null || break
                sleep 0.1
        done
        cat "$TEST_DIR/frontend.log" "$TEST_DIR/sidecar.log" >&2
        return 1
}

teardown() {
        if [[ -n "${FRONTEND_PID:-}" ]]; then
                kill "$FRONTEND_PID" 2>/dev/null || true
                wait "$FRONTEND_PID" 2>/dev/null || true
        fi
        stop_sidecar
}

@test "packed: the request was served and slot 0 carries the used buffer id" {
        grep -q "id: blk0 status: 0 used id: 7" "$TEST_DIR/frontend.log"
}

@test "packed: queues shows the wrap counters and both event areas" {
        run "$VUCTL" -j queues
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["queues"][0]["packed"]')" = True ]
        [ "$(json_field 'j["queues"][0]["last_avail_idx"]')" = 3 ]
        [ "$(json_field 'j["queues"][0]["used_idx"]')" = 3 ]
        [ "$(json_field 'j["queues"][0]["avail_wrap_counter"]')" = True ]
        [ "$(json_field 'j["queues"][0]["used_wrap_counter"]')" = True ]
        [ "$(json_field 'j["queues"][0]["driver_event"]["mode"]')" = DESC ]
        [ "$(json_field 'j["queues"][0]["driver_event"]["off_wrap"]')" = 32773 ]
        [ "$(json_field 'j["queues"][0]["driver_event"]["offset"]')" = 5 ]
        [ "$(json_field 'j["queues"][0]["driver_event"]["wrap"]')" = True ]
        # EVENT_IDX: after its work the device asks to be kicked for the next slot it reads, 3 of lap 1.
        [ "$(json_field 'j["queues"][0]["device_event"]["mode"]')" = DESC ]
        [ "$(json_field 'j["queues"][0]["device_event"]["offset"]')" = 3 ]
        [ "$(json_field 'j["queues"][0]["device_event"]["wrap"]')" = True ]

        run "$VUCTL" queues
        [ "$status" -eq 0 ]
        [[ "$output" == *"AVAIL_WRAP"* ]]
        [[ "$output" == *"DESC 5 wrap 1"* ]]
        [[ "$output" == *"DESC 3 wrap 1"* ]]
}

@test "packed: dump decodes every slot, its lap state and the packed indirect table" {
        run "$VUCTL" -j dump 0 --count 5
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["packed"]')" = True ]
        [ "$(json_field 'j["avail_wrap_counter"]')" = True ]
        [ "$(json_field 'j["used_wrap_counter"]')" = True ]
        [ "$(json_field 'j["last_avail_idx"]')" = 3 ]
        [ "$(json_field 'j["used_idx"]')" = 3 ]
        [ "$(json_field 'j["avail"]')" = None ]
        # Slot 0: the used descriptor, AVAIL == USED == 1, the buffer's id, the 20 + 1 bytes written.
        [ "$(json_field 'j["descriptors"][0]["flag_names"]')" = "['WRITE', 'AVAIL', 'USED']" ]
        [ "$(json_field 'j["descriptors"][0]["len"]')" = 21 ]
        [ "$(json_field 'j["descriptors"][0]["buffer_id"]')" = 7 ]
        [ "$(json_field 'j["descriptors"][0]["state"]')" = used ]
        [ "$(json_field 'j["descriptors"][0]["available"]')" = False ]
        # Slots 1-2: the rest of that chain, marked for lap 1, which the device has read past.
        [ "$(json_field 'j["descriptors"][1]["flag_names"]')" = "['NEXT', 'WRITE', 'AVAIL']" ]
        [ "$(json_field 'j["descriptors"][1]["state"]')" = taken ]
        [ "$(json_field 'j["descriptors"][2]["state"]')" = taken ]
        # Slot 3: available to the device now; its indirect table holds packed entries.
        [ "$(json_field 'j["descriptors"][3]["flag_names"]')" = "['INDIRECT', 'AVAIL']" ]
        [ "$(json_field 'j["descriptors"][3]["buffer_id"]')" = 9 ]
        [ "$(json_field 'j["descriptors"][3]["available"]')" = True ]
        [ "$(json_field 'j["descriptors"][3]["state"]')" = available ]
        [ "$(json_field 'len(j["descriptors"][3]["indirect"])')" = 3 ]
        [ "$(json_field 'j["descriptors"][3]["indirect"][1]["len"]')" = 512 ]
        [ "$(json_field 'j["descriptors"][3]["indirect"][1]["flag_names"]')" = "['WRITE']" ]
        [ "$(json_field '"buffer_id" in j["descriptors"][3]["indirect"][1]')" = False ]
        # Slot 4: never written, AVAIL == USED == 0: the driver's.
        [ "$(json_field 'j["descriptors"][4]["state"]')" = used ]
        [ "$(json_field 'j["driver_event"]["mode"]')" = DESC ]
        [ "$(json_field 'j["driver_event"]["offset"]')" = 5 ]
        [ "$(json_field 'j["device_event"]["offset"]')" = 3 ]

        run "$VUCTL" dump 0 --count 5
        [ "$status" -eq 0 ]
        [[ "$output" == *"packed ring of 8"* ]]
        [[ "$output" == *"device reads next at slot 3 (avail wrap 1)"* ]]
        [[ "$output" == *"available"* ]]
        [[ "$output" == *"taken"* ]]
        [[ "$output" == *"driver event area (when the driver wants our calls): flags 0x2 DESC, off_wrap 0x8005 (slot 5, wrap 1)"* ]]
        [[ "$output" != *"avail ring:"* ]]
}
