#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# vu-sidecar as an operator meets it before any VM is attached: its options and
# the messages for bad ones (exit 2), a missing or unreadable image (exit 1),
# the socket it creates (mode, stale files, one frontend at a time), signals
# (SIGTERM exits 0 and removes the socket; SIGHUP picks up a grown image),
# sd_notify READY/STATUS, client mode, and socket activation through
# systemd-socket-activate. A tiny vhost-user frontend in Python speaks just
# enough of the protocol (GET_FEATURES, GET_CONFIG) to see what a guest would.

setup_file() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                return 0
        fi
        export FRONTEND="$BATS_FILE_TMPDIR/frontend.py"
        cat >"$FRONTEND" <<'PY'
import os, socket, struct, sys, time

GET_FEATURES, SET_FEATURES, GET_PROTOCOL_FEATURES, SET_PROTOCOL_FEATURES, GET_CONFIG = 1, 2, 15, 16, 24
F_PROTOCOL_FEATURES, PF_CONFIG = 1 << 30, 1 << 9

def recvall(s, n):
    b = b''
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError('connection closed after %d of %d bytes' % (len(b), n))
        b += c
    return b

def call(s, req, payload=b'', reply=True):
    s.sendall(struct.pack('<III', req, 1, len(payload)) + payload)
    if not reply:
        return None
    r, flags, size = struct.unpack('<III', recvall(s, 12))
    assert r == req, 'reply to %d is %d' % (req, r)
    return recvall(s, size)

def connect(path, secs=10):
    end = time.time() + secs
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if time.time() > end:
                raise
            time.sleep(0.05)

def capacity(s):
    f = struct.unpack('<Q', call(s, GET_FEATURES))[0]
    call(s, SET_FEATURES, struct.pack('<Q', f & (F_PROTOCOL_FEATURES | (1 << 32))), reply=False)
    pf = struct.unpack('<Q', call(s, GET_PROTOCOL_FEATURES))[0]
    call(s, SET_PROTOCOL_FEATURES, struct.pack('<Q', pf & PF_CONFIG), reply=False)
    r = call(s, GET_CONFIG, struct.pack('<III', 0, 64, 0) + bytes(64))
    return struct.unpack_from('<Q', r, 12)[0]

cmd, path = sys.argv[1], sys.argv[2]
if cmd == 'features':          # print the offered virtio feature bits
    print('0x%x' % struct.unpack('<Q', call(connect(path), GET_FEATURES))[0])
elif cmd == 'capacity':        # print the capacity in sectors from the config space
    print(capacity(connect(path)))
elif cmd == 'hold':            # stay connected until the file argv[3] disappears
    s = connect(path)
    call(s, GET_FEATURES)
    open(sys.argv[3] + '.up', 'w').close()
    while os.path.exists(sys.argv[3]):
        time.sleep(0.05)
elif cmd == 'second':          # a connection made while another frontend is served
    s = connect(path)
    try:
        call(s, GET_FEATURES)
        print('served')
    except (EOFError, ConnectionResetError, BrokenPipeError):
        print('refused')
elif cmd == 'listen':          # be the frontend's listening socket (client mode): one GET_FEATURES
    l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    l.bind(path)
    l.listen(1)
    l.settimeout(20)
    s, _ = l.accept()
    print('0x%x' % struct.unpack('<Q', call(s, GET_FEATURES))[0])
elif cmd == 'notify':          # a NOTIFY_SOCKET: print each datagram, stop after READY=1
    l = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    l.bind(path)
    l.settimeout(20)
    while True:
        m = l.recv(4096).decode()
        print(m.replace('\n', ' | '), flush=True)
        if 'READY=1' in m:
            break
PY
}

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: this build has no vu-sidecar target"
        fi
        tmp=$BATS_TEST_TMPDIR
        img=$tmp/disk.img
        truncate -s 64M "$img"
        run_dir=$tmp/run
        sock=$run_dir/blk0.sock
        pids=()
}

teardown() {
        local pid
        for pid in "${pids[@]}"; do
                kill -KILL "$pid" 2>/dev/null || true
                wait "$pid" 2>/dev/null || true
        done
}

# start_sidecar ARGS... — vu-sidecar in the background, log in $tmp/sidecar.log, pid in $pid.
start_sidecar() {
        "$VU_SIDECAR" --control none --runtime-dir "$run_dir" "$@" >"$tmp/sidecar.log" 2>&1 3>&- &
        pid=$!
        pids+=("$pid")
}

wait_for_socket() {
        local path=$1 i
        for ((i = 0; i < 100; i++)); do
                [[ -S $path ]] && return 0
                kill -0 "$pid" 2>/dev/null || { cat "$tmp/sidecar.log" >&2; return 1; }
                sleep 0.1
        done
        echo "no socket at $path" >&2
        return 1
}

wait_for_log() {
        local pattern=$1 i
        for ((i = 0; i < 100; i++)); do
                grep -q -- "$pattern" "$tmp/sidecar.log" && return 0
                sleep 0.1
        done
        echo "'$pattern' never appeared in the log:" >&2
        cat "$tmp/sidecar.log" >&2
        return 1
}

# stop_sidecar — SIGTERM; must exit 0 within 10 s.
stop_sidecar() {
        local i rc=0
        kill -TERM "$pid"
        for ((i = 0; i < 100; i++)); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
        done
        wait "$pid" || rc=$?
        if ((rc != 0)); then
                cat "$tmp/sidecar.log" >&2
                echo "exit status $rc after SIGTERM" >&2
                return 1
        fi
}

# refuse ARGS... — must exit 2 before doing anything.
refuse() {
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" "$@"
        echo "$output"
        [[ $status -eq 2 ]]
        [[ ! -e $run_dir ]]
}

@test "--help explains the options and exits 0" {
        run "$VU_SIDECAR" --help
        [[ $status -eq 0 ]]
        [[ $output == *"Usage: vu-sidecar"* ]]
        for word in --blk path= queues= queue-size= read-only= --control --runtime-dir --io-engine \
                --socket-mode --control-group --log-level VU_SIDECAR_BLK VU_SIDECAR_SOCKET_MODE \
                VU_SIDECAR_CONTROL_GROUP vhost-user-blk-pci; do
                [[ $output == *"$word"* ]] || { echo "missing $word"; return 1; }
        done
}

@test "--version prints the version and exits 0" {
        run "$VU_SIDECAR" --version
        [[ $status -eq 0 ]]
        [[ $output =~ ^vu-sidecar\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "no device at all is refused with a hint" {
        refuse
        [[ $output == *"no device to serve: give --blk path=IMAGE"* ]]
}

@test "every bad --blk value is refused naming the key, the value and what is allowed" {
        local cases=(
                "queues=0|--blk: queues=0: must be 1..64"
                "queues=65|--blk: queues=65: must be 1..64"
                "queues=two|--blk: queues=two: must be 1..64"
                "queue-size=100|--blk: queue-size=100: must be a power of two from 64 to 1024"
                "queue-size=2048|--blk: queue-size=2048: must be a power of two from 64 to 1024"
                "mode=listen|--blk: mode=listen: must be server or client"
                "read-only=maybe|--blk: read-only=maybe: must be on or off"
                "discard=2|--blk: discard=2: must be on or off"
                "write-zeroes=|--blk: write-zeroes=: must be on or off"
                "cache=off|--blk: cache=off: must be none (O_DIRECT) or writeback (the host page cache)"
                "cache=writethrough|--blk: cache=writethrough: must be none (O_DIRECT) or writeback"
                "cache=|--blk: cache=: must be none (O_DIRECT) or writeback"
                "cache=none,cache=writeback|--blk: cache=writeback: cache given twice"
                "id=bad/id|--blk: id=bad/id: must be 1..32 characters of A-Z a-z 0-9 _ . -"
                "id=abcdefghijklmnopqrstuvwxyz0123456|--blk: id=abcdefghijklmnopqrstuvwxyz0123456: must be 1..32"
                "serial=123456789012345678901|--blk: serial=123456789012345678901: must be at most 20 printable bytes"
                "iops=-1|--blk: iops=-1: must be a number of operations per second"
                "bps=1X|--blk: bps=1X: must be bytes per second"
                "colour=red|--blk: colour=red: unknown key (allowed: path, id, socket"
                "queues|--blk: queues: expected KEY=VALUE"
                "queues=2,queues=3|--blk: queues=3: queues given twice"
        )
        local c spec want
        for c in "${cases[@]}"; do
                spec=${c%%|*}
                want=${c#*|}
                refuse --blk "path=$img,$spec"
                [[ $output == *"vu-sidecar: $want"* ]] || { echo "for $spec: wanted '$want'"; return 1; }
        done
        refuse --blk "id=x"
        [[ $output == *"vu-sidecar: --blk: id=x: path=FILE is required"* ]]
        refuse --blk "path=$img" --blk "path=$tmp/other.img,id=blk0"
        [[ $output == *"id=blk0: used by two devices"* ]]
}

@test "bad global options and values are refused with exit 2" {
        refuse --blk "path=$img" --io-engine fast
        [[ $output == *"vu-sidecar: --io-engine: fast: must be auto, io_uring or threads"* ]]
        refuse --blk "path=$img" --log-level loud
        [[ $output == *"vu-sidecar: --log-level: loud: must be err, warning, notice, info or debug"* ]]
        refuse --blk "path=$img" --socket-mode 999
        [[ $output == *"vu-sidecar: --socket-mode: 999: must be an octal mode from 0000 to 0777"* ]]
        refuse --blk "path=$img" --control-group no-such-group-here
        [[ $output == *"vu-sidecar: --control-group: no-such-group-here: no such group"* ]]
        refuse --blk "path=$img" --frobnicate
        [[ $output == *"vu-sidecar: --frobnicate: unknown option"* ]]
        refuse --blk
        [[ $output == *"vu-sidecar: --blk: needs a value"* ]]
        refuse --blk "path=$img" stray
        [[ $output == *"vu-sidecar: stray: unexpected argument"* ]]
}

@test "the environment is read when options are absent, and named in its messages" {
        VU_SIDECAR_BLK="path=$img,queues=0" run "$VU_SIDECAR" --control none --runtime-dir "$run_dir"
        [[ $status -eq 2 ]]
        [[ $output == *"vu-sidecar: VU_SIDECAR_BLK: queues=0: must be 1..64"* ]]
        VU_SIDECAR_IO_ENGINE=turbo run "$VU_SIDECAR" --control none --blk "path=$img"
        [[ $status -eq 2 ]]
        [[ $output == *"VU_SIDECAR_IO_ENGINE: turbo: must be auto, io_uring or threads"* ]]
        # Options win: a good --io-engine hides a bad variable.
        VU_SIDECAR_IO_ENGINE=turbo VU_SIDECAR_BLK="path=$img;path=$img,id=second,queues=0" \
                run "$VU_SIDECAR" --control none --io-engine threads --blk "path=$img,queues=99"
        [[ $status -eq 2 ]]
        [[ $output == *"vu-sidecar: --blk: queues=99"* ]]
        [[ $output != *"VU_SIDECAR"* ]]
}

@test "VU_SIDECAR_SOCKET_MODE and VU_SIDECAR_CONTROL_GROUP stand in for their options" {
        # The man page and README promise a variable for each option: a container that lets a
        # frontend of another uid in sets the socket mode through its environment. (timeout: a
        # sidecar that ignored a bad variable would start and serve instead of refusing it.)
        VU_SIDECAR_SOCKET_MODE=0999 run timeout 10 "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$img"
        echo "$output"
        [[ $status -eq 2 ]]
        [[ $output == *"vu-sidecar: VU_SIDECAR_SOCKET_MODE: 0999: must be an octal mode from 0000 to 0777"* ]]
        VU_SIDECAR_CONTROL_GROUP=no-such-group-here run timeout 10 "$VU_SIDECAR" --control none --runtime-dir "$run_dir" \
                --blk "path=$img"
        echo "$output"
        [[ $status -eq 2 ]]
        [[ $output == *"vu-sidecar: VU_SIDECAR_CONTROL_GROUP: no-such-group-here: no such group"* ]]
        # Options win over the variables.
        VU_SIDECAR_SOCKET_MODE=0999 VU_SIDECAR_CONTROL_GROUP=no-such-group-here \
                run timeout 10 "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --socket-mode 999 --blk "path=$img"
        [[ $status -eq 2 ]]
        [[ $output == *"vu-sidecar: --socket-mode: 999"* ]]
        [[ $output != *"VU_SIDECAR"* ]]

        VU_SIDECAR_SOCKET_MODE=0606 VU_SIDECAR_CONTROL_GROUP=0 start_sidecar --blk "path=$img"
        wait_for_socket "$sock"
        [[ $(stat -c %a "$sock") == 606 ]]
        stop_sidecar
        VU_SIDECAR_SOCKET_MODE=0606 start_sidecar --socket-mode 0600 --blk "path=$img"
        wait_for_socket "$sock"
        [[ $(stat -c %a "$sock") == 600 ]]
        stop_sidecar
}

@test "two devices of one sidecar on one image: the message names the other device, not another process" {
        ln -s "$img" "$tmp/alias.img"
        run timeout 10 "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$img" \
                --blk "id=data,path=$tmp/alias.img"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"data: image $tmp/alias.img is already served by device blk0 of this sidecar (as $img)"* ]]
        [[ $output != *"another process"* ]]
        # Read-only on both shares the image, as two read-only sidecars may.
        start_sidecar --blk "path=$img,read-only=on" --blk "id=data,path=$tmp/alias.img,read-only=on"
        wait_for_socket "$run_dir/data.sock"
        stop_sidecar
}

@test "a missing image is named with the reason, exit 1" {
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$tmp/nope.img"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"$tmp/nope.img"*"No such file or directory"* ]]
        [[ ! -e $run_dir/blk0.sock ]]
}

@test "an image the user may not read is named with the reason, exit 1 (run unprivileged)" {
        if [[ $(id -u) -ne 0 ]]; then
                chmod 000 "$img"
                run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$img"
        else
                command -v setpriv >/dev/null || skip "setpriv (util-linux) is not installed"
                local d
                d=$(mktemp -d /tmp/vu-unreadable.XXXXXX)
                chmod 755 "$d"
                truncate -s 1M "$d/secret.img"
                chmod 600 "$d/secret.img"
                mkdir -m 777 "$d/run"
                run setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
                        "$VU_SIDECAR" --control none --runtime-dir "$d/run" --blk "path=$d/secret.img"
                rm -rf "$d"
        fi
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"secret.img"*"Permission denied"* || $output == *"disk.img"*"Permission denied"* ]]
}

@test "the socket is created with the default 0660 or --socket-mode, and SIGTERM exits 0 removing it" {
        start_sidecar --blk "path=$img"
        wait_for_socket "$sock"
        [[ $(stat -c %a "$sock") == 660 ]]
        stop_sidecar
        [[ ! -e $sock ]]

        start_sidecar --socket-mode 0600 --blk "path=$img"
        wait_for_socket "$sock"
        [[ $(stat -c %a "$sock") == 600 ]]
        grep -q "waiting for a frontend on $sock" "$tmp/sidecar.log"
        stop_sidecar
        [[ ! -e $sock ]]
}

@test "a stale socket file is replaced, a live one or a non-socket file is refused" {
        mkdir -p "$run_dir"
        python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$sock"
        [[ -S $sock ]]
        start_sidecar --blk "path=$img"
        wait_for_log "replaced the stale socket $sock"
        # A second sidecar must not steal the live socket (nor the image).
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$tmp/other.img"
        [[ $status -eq 1 ]]
        truncate -s 1M "$tmp/other.img"
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$tmp/other.img"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"$sock is in use by a running process"* ]]
        stop_sidecar

        echo "precious" >"$tmp/file"
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$img,socket=$tmp/file"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"Refusing to replace $tmp/file: it exists and is not a socket"* ]]
        [[ $(cat "$tmp/file") == precious ]]
}

@test "two sidecars cannot serve one image read-write" {
        start_sidecar --blk "path=$img"
        wait_for_socket "$sock"
        run "$VU_SIDECAR" --control none --runtime-dir "$tmp/run2" --blk "path=$img"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"$img is in use by another process"* ]]
        stop_sidecar
}

@test "a frontend sees the offered features and the capacity; a second one is refused while it is served" {
        start_sidecar --blk "path=$img,read-only=on"
        wait_for_socket "$sock"
        run python3 "$FRONTEND" features "$sock"
        echo "$output"
        [[ $status -eq 0 ]]
        local f=$((output))
        ((f & (1 << 32))) # VERSION_1
        ((f & (1 << 5)))  # RO
        ((f & (1 << 9)))  # FLUSH
        ((!(f & (1 << 13)))) # no DISCARD on a read-only disk
        run python3 "$FRONTEND" capacity "$sock"
        [[ $output == 131072 ]]

        touch "$tmp/hold"
        python3 "$FRONTEND" hold "$sock" "$tmp/hold" 3>&- &
        pids+=($!)
        for ((i = 0; i < 100; i++)); do [[ -e $tmp/hold.up ]] && break; sleep 0.1; done
        run python3 "$FRONTEND" second "$sock"
        [[ $output == refused ]]
        wait_for_log "refusing a second frontend"
        rm "$tmp/hold"
        # Once the first one has gone, the next is served.
        run python3 "$FRONTEND" features "$sock"
        [[ $status -eq 0 ]]
        stop_sidecar
}

@test "SIGHUP picks up a grown image and announces the new capacity" {
        start_sidecar --blk "path=$img"
        wait_for_socket "$sock"
        run python3 "$FRONTEND" capacity "$sock"
        [[ $output == 131072 ]]
        truncate -s 128M "$img"
        kill -HUP "$pid"
        wait_for_log "capacity changed from 131072 to 262144 sectors"
        run python3 "$FRONTEND" capacity "$sock"
        [[ $output == 262144 ]]
        stop_sidecar
}

@test "sd_notify: READY=1 and a STATUS that says what it does" {
        python3 "$FRONTEND" notify "$tmp/notify.sock" >"$tmp/notify.out" 3>&- &
        local listener=$!
        pids+=("$listener")
        for ((i = 0; i < 50; i++)); do [[ -S $tmp/notify.sock ]] && break; sleep 0.1; done
        NOTIFY_SOCKET=$tmp/notify.sock start_sidecar --io-engine threads --blk "path=$img"
        wait "$listener"
        cat "$tmp/notify.out"
        grep -q "READY=1" "$tmp/notify.out"
        grep -q "STATUS=blk0: waiting for frontend on $sock (threads I/O)" "$tmp/notify.out"
        stop_sidecar
}

@test "client mode connects to the frontend's socket, retrying until it appears" {
        start_sidecar --blk "path=$img,mode=client,socket=$tmp/qemu.sock"
        wait_for_log "not ready"
        run python3 "$FRONTEND" listen "$tmp/qemu.sock"
        echo "$output"
        [[ $status -eq 0 ]]
        (($output & (1 << 32)))
        wait_for_log "frontend connected"
        stop_sidecar
}

@test "socket activation: systemd-socket-activate hands over the fd named vhost-user" {
        command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
        mkdir -p "$run_dir"
        systemd-socket-activate -l "$tmp/act.sock" --fdname=vhost-user \
                "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$img" \
                >"$tmp/sidecar.log" 2>&1 3>&- &
        pid=$!
        pids+=("$pid")
        wait_for_socket "$tmp/act.sock"
        run python3 "$FRONTEND" features "$tmp/act.sock"
        echo "$output"
        [[ $status -eq 0 ]]
        (($output & (1 << 32)))
        grep -q "listening on the activated socket" "$tmp/sidecar.log"
        # The daemon did not create its own socket, and must not unlink the activated one.
        [[ ! -e $sock ]]
        stop_sidecar
        [[ -S $tmp/act.sock ]]
}

@test "--io-engine threads and io_uring are both usable and reported" {
        start_sidecar --io-engine threads --blk "path=$img"
        wait_for_socket "$sock"
        grep -q "threads I/O" "$tmp/sidecar.log"
        stop_sidecar
        if start_sidecar --io-engine io_uring --blk "path=$img" && wait_for_socket "$sock"; then
                grep -q "io_uring I/O" "$tmp/sidecar.log"
                stop_sidecar
        else
                grep -q "io_uring is not available here" "$tmp/sidecar.log"
        fi
}

# image_open_direct — true if the sidecar ($pid) holds $img open with O_DIRECT (octal 040000).
image_open_direct() {
        local fd flags
        for fd in /proc/"$pid"/fd/*; do
                [[ $(readlink "$fd") == "$img" ]] || continue
                flags=$(awk '/^flags:/ { print $2 }' "/proc/$pid/fdinfo/${fd##*/}")
                ((8#$flags & 8#40000)) && return 0
        done
        return 1
}

@test "cache=none opens the image with O_DIRECT, cache=writeback through the page cache, and says so" {
        start_sidecar --blk "path=$img,cache=writeback"
        wait_for_socket "$sock"
        grep -q "cache=writeback (page cache)" "$tmp/sidecar.log"
        if image_open_direct; then
                echo "cache=writeback: the image is open with O_DIRECT" >&2
                return 1
        fi
        stop_sidecar
        start_sidecar --blk "path=$img,cache=none"
        wait_for_socket "$sock"
        grep -q "cache=none (O_DIRECT)" "$tmp/sidecar.log"
        image_open_direct
        stop_sidecar
}

@test "cache=none refuses to start where the file system refuses O_DIRECT; the default falls back" {
        local shm_img=/dev/shm/vu-bats-$$.img
        truncate -s 16M "$shm_img"
        if dd if="$shm_img" of=/dev/null bs=4096 count=1 iflag=direct status=none 2>/dev/null; then
                rm -f "$shm_img"
                skip "this kernel's tmpfs accepts O_DIRECT (6.6 and later): no file system here refuses it"
        fi
        run "$VU_SIDECAR" --control none --runtime-dir "$run_dir" --blk "path=$shm_img,cache=none"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"cache=none needs O_DIRECT, which the file system refused"*"use cache=writeback"* ]]
        start_sidecar --blk "path=$shm_img"
        wait_for_socket "$sock"
        grep -q "O_DIRECT refused" "$tmp/sidecar.log"
        grep -q "cache=writeback (page cache)" "$tmp/sidecar.log"
        stop_sidecar
        rm -f "$shm_img"
}

@test "socket activation: fds named after device ids go to those devices, \"control\" to the control socket" {
        command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate is not installed"
        truncate -s 32M "$tmp/b.img"
        systemd-socket-activate -l "$tmp/a.sock" -l "$tmp/b.sock" -l "$tmp/ctl.sock" \
                --fdname=disk-a:disk-b:control \
                "$VU_SIDECAR" --runtime-dir "$run_dir" \
                --blk "path=$img,id=disk-a" --blk "path=$tmp/b.img,id=disk-b" \
                >"$tmp/sidecar.log" 2>&1 3>&- &
        pid=$!
        pids+=("$pid")
        wait_for_socket "$tmp/ctl.sock"
        run python3 "$FRONTEND" capacity "$tmp/b.sock"
        echo "$output"
        [[ $output == 65536 ]] # disk-b's 32 MiB, not disk-a's 64 MiB
        run python3 "$FRONTEND" capacity "$tmp/a.sock"
        [[ $output == 131072 ]]
        if [[ -n ${VUCTL:-} ]]; then
                run "$VUCTL" --socket "$tmp/ctl.sock" ping
                [[ $status -eq 0 ]]
        fi
        # Nothing was created in the runtime directory: every socket came from the manager.
        [[ ! -e $run_dir/disk-a.sock && ! -e $run_dir/control.sock ]]
        stop_sidecar
}
