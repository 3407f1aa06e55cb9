#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The control socket as a generic varlink peer sees it: org.varlink.service
# works for any client, and nothing a client sends — bad JSON, bad UTF-8,
# unknown methods, wrong parameter types, an oversize message, too many
# connections, a client that never reads — crashes or stalls the sidecar.

load vuctl-helpers

setup() {
        vuctl_require
        start_sidecar
}

teardown() {
        stop_sidecar
}

@test "a generic client calls org.varlink.service.GetInfo" {
        run vl_call '{"method":"org.varlink.service.GetInfo"}'
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["parameters"]["product"]')" = vu-sidecar ]
        [ "$(json_field '"io.vusidecar" in j["parameters"]["interfaces"]')" = True ]
        [ "$(json_field '"org.varlink.service" in j["parameters"]["interfaces"]')" = True ]
}

@test "GetInterfaceDescription returns the IDL of both interfaces; an unknown one is InterfaceNotFound" {
        run vl_call '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.vusidecar"}}'
        [ "$status" -eq 0 ]
        [[ "$(json_field 'j["parameters"]["description"]')" == *"interface io.vusidecar"*"method GetStatus("* ]]
        run vl_call '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"org.varlink.service"}}'
        [[ "$(json_field 'j["parameters"]["description"]')" == *"method GetInfo()"* ]]
        run vl_call '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"com.example.nope"}}'
        [ "$(json_field 'j["error"]')" = org.varlink.service.InterfaceNotFound ]
        [ "$(json_field 'j["parameters"]["interface"]')" = com.example.nope ]
}

@test "unknown methods and interfaces get the standard errors" {
        run vl_call '{"method":"io.vusidecar.Frobnicate"}'
        [ "$(json_field 'j["error"]')" = org.varlink.service.MethodNotFound ]
        [ "$(json_field 'j["parameters"]["method"]')" = io.vusidecar.Frobnicate ]
        run vl_call '{"method":"com.example.Thing"}'
        [ "$(json_field 'j["error"]')" = org.varlink.service.InterfaceNotFound ]
}

@test "bad JSON is answered with the offset, and the connection stays usable" {
        VL_REPLIES=2 run vl_call '{"method": nope}' '{"method":"io.vusidecar.Ping"}'
        [ "$status" -eq 0 ]
        first=$(sed -n 1p <<<"$output")
        second=$(sed -n 2p <<<"$output")
        output=$first
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [ "$(json_field 'j["parameters"]["offset"]')" -ge 10 ]
        output=$second
        [ "$(json_field 'j["parameters"]["version"]')" != "" ]
        sidecar_alive
}

@test "bad JSON is answered with what is wrong and where, not json-c's guess" {
        # A bare word: not "null expected" at offset 1.
        run vl_call 'not json'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"unexpected word 'not'"* ]]
        [ "$(json_field 'j["parameters"]["offset"]')" -eq 0 ]
        # JSON, but not an object: say so, not "field 'message' is missing" or "unexpected end".
        for value in '[]' '"abc"' '42' 'true' ' [1,2]'; do
                run vl_call "$value"
                [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
                reason=$(json_field 'j["parameters"]["reason"]')
                [[ "$reason" == *"not an object"* ]]
                [[ "$reason" != *"'message'"* && "$reason" != *"end of message"* ]]
        done
        run vl_call '42'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"a JSON number, not an object"* ]]
        run vl_call ' [1,2]'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"a JSON array, not an object"* ]]
        [ "$(json_field 'j["parameters"]["offset"]')" -eq 1 ]
        # A message that really ends early still says so, with the offset.
        run vl_call '{"method":"io.vusidecar.Ping"'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"unexpected end of message"* ]]
        [ "$(json_field 'j["parameters"]["offset"]')" -eq 29 ]
        sidecar_alive
}

@test "strict JSON: NaN, Infinity and duplicate keys are refused naming the problem" {
        run vl_call '{"method":"io.vusidecar.Ping","parameters":{"x":NaN}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"NaN is not a JSON number"* ]]
        [ "$(json_field 'j["parameters"]["offset"]')" -eq 48 ]
        run vl_call '{"method":"io.vusidecar.Ping","parameters":{"x":-Infinity}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"-Infinity is not a JSON number"* ]]
        # json-c keeps the last of two equal keys: the call would silently be GetLog.
        run vl_call '{"method":"io.vusidecar.Ping","method":"io.vusidecar.GetLog"}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"duplicate key 'method'"* ]]
        [ "$(json_field 'j["parameters"]["offset"]')" -eq 30 ]
        [ "$(json_field '"active" in j["parameters"]')" = False ]
        # Spelt differently, still the same key.
        run vl_call '{"method":"io.vusidecar.SetLogLevel","parameters":{"level":"err","\u006cevel":"info"}}'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"duplicate key 'level'"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = debug ]
        # The same key in two different objects is fine; exponents are numbers.
        run vl_call '{"method":"io.vusidecar.GetStatus","parameters":{"device":"blk0"},"more":false}'
        [ "$(json_field 'j["parameters"]["devices"][0]["id"]')" = blk0 ]
        run vl_call '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":0,"count":1e1}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = count ]
        sidecar_alive
}

@test "every reply matches the interface description the sidecar serves (a strict generic client)" {
        run python3 "$BATS_TEST_DIRNAME/varlink-conformance.py" "$VUCTL_SOCKET" \
                '{"method":"org.varlink.service.GetInfo"}' \
                '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"io.vusidecar"}}' \
                '{"method":"io.vusidecar.Ping"}' \
                '{"method":"io.vusidecar.GetStatus"}' \
                '{"method":"io.vusidecar.GetStats"}' \
                '{"method":"io.vusidecar.GetQueues"}' \
                '{"method":"io.vusidecar.GetLog"}' \
                '{"method":"io.vusidecar.SetLogLevel","parameters":{"level":"debug"}}' \
                '{"method":"io.vusidecar.SetLimits","parameters":{"iops":0}}' \
                '{"method":"io.vusidecar.SetReadOnly","parameters":{"read_only":false}}' \
                '{"method":"io.vusidecar.Resize","parameters":{"size":67108864}}' \
                '{"method":"io.vusidecar.ResetStats"}' \
                '{"method":"io.vusidecar.Monitor","more":true}' \
                '{"method":"io.vusidecar.GetStatus","parameters":{"device":"nope"}}' \
                '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":5}}' \
                '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":0}}' \
                '{"method":"io.vusidecar.SetLink","parameters":{"up":true}}' \
                '{"method":"io.vusidecar.Ping","parameters":{"colour":"blue"}}' \
                '{"method":"io.vusidecar.Resize","parameters":{"size":512}}' \
                '{"method":"io.vusidecar.Monitor"}' \
                '{"method":"io.vusidecar.Frobnicate"}' \
                '{"method":"com.example.Thing"}' \
                '{"method":"org.varlink.service.GetInterfaceDescription"}' \
                '{"method":"org.varlink.service.GetInterfaceDescription","parameters":{"interface":"x.y"}}' \
                'not json'
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"ok io.vusidecar.GetStatus -> io.vusidecar.NoSuchDevice"* ]]
        [[ "$output" == *"ok io.vusidecar.Ping -> io.vusidecar.InvalidParameter"* ]]
        [[ "$output" == *"ok org.varlink.service.GetInterfaceDescription -> org.varlink.service.InvalidParameter"* ]]
        [[ "$output" == *"ok io.vusidecar.Resize -> io.vusidecar.ShrinkRefused"* ]]
        [ "$(grep -c '^ok' <<<"$output")" -eq 25 ]
}

@test "with several devices, DeviceRequired and NoSuchDevice match the description too" {
        stop_sidecar
        SECOND_DEVICE=data start_sidecar
        run python3 "$BATS_TEST_DIRNAME/varlink-conformance.py" "$VUCTL_SOCKET" \
                '{"method":"io.vusidecar.GetQueues"}' \
                '{"method":"io.vusidecar.GetLog","parameters":{"device":"nope"}}' \
                '{"method":"io.vusidecar.GetStats"}'
        echo "$output"
        [ "$status" -eq 0 ]
        [[ "$output" == *"ok io.vusidecar.GetQueues -> io.vusidecar.DeviceRequired"* ]]
}

@test "invalid UTF-8 and non-call shapes are refused, naming the field" {
        run vl_call $'{"method":"io.vusidecar.Ping","x":"\xff\xfe"}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"utf"* || "$(json_field 'j["parameters"]["reason"]')" == *"UTF"* ]]
        run vl_call '[1,2,3]'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidMessage ]
        run vl_call '{"method":42}'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"'method'"* ]]
        run vl_call '{"method":"io.vusidecar.Ping","parameters":[]}'
        [[ "$(json_field 'j["parameters"]["reason"]')" == *"'parameters'"* ]]
        sidecar_alive
}

@test "wrong parameter types and unknown parameters are InvalidParameter naming the parameter and why" {
        run vl_call '{"method":"io.vusidecar.GetStatus","parameters":{"device":5}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.InvalidParameter ]
        [ "$(json_field 'j["parameters"]["parameter"]')" = device ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *string* ]]
        run vl_call '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":"zero"}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = queue ]
        run vl_call '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":99999}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = queue ]
        run vl_call '{"method":"io.vusidecar.Resize","parameters":{"size":1000}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = size ]
        [[ "$(json_field 'j["parameters"]["reason"]')" == *1000* ]]
        run vl_call '{"method":"io.vusidecar.Resize","parameters":{"size":-512}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = size ]
        run vl_call '{"method":"io.vusidecar.SetReadOnly","parameters":{"read_only":"yes"}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = read_only ]
        run vl_call '{"method":"io.vusidecar.SetLogLevel","parameters":{"level":"loud"}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = level ]
        run vl_call '{"method":"io.vusidecar.Ping","parameters":{"colour":"blue"}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = colour ]
        run vl_call '{"method":"io.vusidecar.GetStatus","parameters":{"device":"blk9"}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.NoSuchDevice ]
        [ "$(json_field 'j["parameters"]["device"]')" = blk9 ]
        sidecar_alive
}

@test "Monitor needs more:true; oneway calls get no reply" {
        run vl_call '{"method":"io.vusidecar.Monitor"}'
        [ "$(json_field 'j["error"]')" = org.varlink.service.ExpectedMore ]
        # A oneway Ping, then a normal one: the only reply is the second's.
        VL_REPLIES=2 VL_TIMEOUT=1 run vl_call '{"method":"io.vusidecar.Ping","oneway":true}' \
                '{"method":"io.vusidecar.Ping"}'
        [ "$(wc -l <<<"$output")" -eq 2 ]
        [ "$(sed -n 2p <<<"$output")" = TIMEOUT ]
        VL_REPLIES=1 run vl_call '{"method":"io.vusidecar.Monitor","more":true}'
        [ "$(json_field 'j["parameters"]["event"]')" = subscribed ]
        [ "$(json_field 'j["continues"]')" = True ]
}

@test "an oversize message is refused and the connection closed; others are unaffected" {
        run python3 - "$VUCTL_SOCKET" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.settimeout(10)
chunk = b'{"method":"io.vusidecar.Ping","parameters":{"pad":"' + b"x" * 65536
sent = 0
try:
    while sent < 2 * 1024 * 1024:
        s.sendall(chunk)
        sent += len(chunk)
except (BrokenPipeError, ConnectionResetError):
    pass
data = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
except (ConnectionResetError, socket.timeout):
    pass
print(data.split(b"\0")[0].decode())
EOF
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["error"]')" = io.vusidecar.MessageTooLarge ]
        [ "$(json_field 'j["parameters"]["max"]')" -eq 1048576 ]
        sidecar_alive
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
}

@test "more than 32 clients: the next one is refused with TooManyClients, the rest keep working" {
        run python3 - "$VUCTL_SOCKET" <<'EOF'
import socket, sys, time
path = sys.argv[1]
held = []
for i in range(32):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    held.append(s)
# Make sure all 32 were accepted before the 33rd arrives.
for s in held:
    s.sendall(b'{"method":"io.vusidecar.Ping"}\0')
    s.settimeout(5)
    assert b"version" in s.recv(4096)
extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
extra.connect(path)
extra.settimeout(5)
print(extra.recv(4096).split(b"\0")[0].decode())
# Those already connected are still served.
held[0].sendall(b'{"method":"io.vusidecar.Ping"}\0')
assert b"version" in held[0].recv(4096)
EOF
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["error"]')" = io.vusidecar.TooManyClients ]
        [ "$(json_field 'j["parameters"]["max"]')" -eq 32 ]
        # Once they hang up, new clients get in again.
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
}

@test "a client that never reads its replies is dropped and never stalls the others" {
        python3 - "$VUCTL_SOCKET" >"$TEST_DIR/stuck.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(sys.argv[1])
call = b'{"method":"io.vusidecar.GetStatus"}\0'
sent = 0
try:
    for _ in range(200000):
        s.sendall(call)
        sent += 1
except (BrokenPipeError, ConnectionResetError):
    print("dropped after", sent, "calls")
    sys.exit(0)
print("never dropped", sent)
sys.exit(1)
EOF
        local stuck=$!
        # While it floods, others get their answers promptly.
        for _ in $(seq 10); do
                run timeout 5 "$VUCTL" ping
                [ "$status" -eq 0 ]
        done
        local rc=0
        wait "$stuck" || rc=$?
        cat "$TEST_DIR/stuck.out"
        [ "$rc" -eq 0 ]
        grep -q "does not read its replies" "$TEST_DIR/sidecar.log"
        sidecar_alive
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
}

@test "a client that hangs up mid-message or mid-stream does no harm" {
        python3 - "$VUCTL_SOCKET" <<'EOF'
import socket, sys
for msg in [b'{"method":"io.vus', b'{"method":"io.vusidecar.Monitor","more":true}\0']:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(msg)
    s.close()
EOF
        sleep 0.2
        run "$VUCTL" set log-level info
        [ "$status" -eq 0 ]
        sidecar_alive
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
}

@test "a client refused for lack of slots always reads TooManyClients, never a closed connection" {
        python3 - "$VUCTL_SOCKET" "$TEST_DIR/held" <<'PY' &
import socket, sys, time
held = []
for i in range(32):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(b'{"method":"io.vusidecar.Ping"}\0')
    s.settimeout(5)
    assert b"version" in s.recv(4096)
    held.append(s)
open(sys.argv[2], "w").close()
time.sleep(60)
PY
        local holder=$!
        for _ in $(seq 100); do
                [[ -e "$TEST_DIR/held" ]] && break
                sleep 0.1
        done
        # vuctl sends its call at once; a refusal closed before the call arrived was a broken pipe.
        local refused=0 closed=0
        for _ in $(seq 40); do
                run "$VUCTL" ping
                [ "$status" -eq 1 ]
                [[ "$output" == *"too many control connections"* ]] && refused=$((refused + 1))
                [[ "$output" == *"closed the connection"* ]] && closed=$((closed + 1))
        done
        kill "$holder"
        wait "$holder" || true
        echo "refused $refused, closed $closed"
        [ "$refused" -eq 40 ]
        [ "$closed" -eq 0 ]
        sidecar_alive
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
}
