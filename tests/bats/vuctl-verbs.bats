#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Every vuctl verb against a real vu-sidecar serving a blk image with no
# frontend connected: what an operator sees, what scripts parse (-j), and
# the exit codes 0 ok / 1 daemon error / 2 usage / 3 cannot connect.

load vuctl-helpers

setup() {
        vuctl_require
        start_sidecar
}

teardown() {
        stop_sidecar
}

@test "ping answers and exits 0" {
        run "$VUCTL" ping
        [ "$status" -eq 0 ]
        [[ "$output" == *"is alive"* ]]
        run "$VUCTL" -j ping
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["version"]')" != "" ]
}

@test "status shows the device, its socket and its image" {
        run "$VUCTL" status
        [ "$status" -eq 0 ]
        [[ "$output" == *"blk0 (blk): waiting"* ]]
        [[ "$output" == *"$TEST_DIR/blk0.sock (server)"* ]]
        [[ "$output" == *"frontend"*"none"* ]]
        [[ "$output" == *"$TEST_DIR/disk.img"* ]]

        run "$VUCTL" -j status
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["devices"][0]["id"]')" = blk0 ]
        [ "$(json_field 'j["devices"][0]["connected"]')" = False ]
        [ "$(json_field 'j["devices"][0]["peer"]')" = None ]
        [ "$(json_field 'j["devices"][0]["config"]["size_bytes"]')" = 67108864 ]
        [ "$(json_field 'j["pid"]')" = "$SIDECAR_PID" ]
        [ "$(json_field 'j["control_socket"]')" = "$VUCTL_SOCKET" ]
}

@test "--device picks a device; an unknown one is a daemon error (exit 1)" {
        run "$VUCTL" --device blk0 -j status
        [ "$status" -eq 0 ]
        [ "$(json_field 'len(j["devices"])')" = 1 ]
        run "$VUCTL" --device nope status
        [ "$status" -eq 1 ]
        [[ "$output" == *"no device 'nope'"* ]]
}

@test "stats: per-queue and total counters with the direction named, json and prometheus" {
        run "$VUCTL" stats
        [ "$status" -eq 0 ]
        [[ "$output" == *"G>B CHAINS"*"B>G CHAINS"* ]]
        [[ "$output" == *"total"* ]]
        [[ "$output" == *"guest to backend"* ]]

        run "$VUCTL" -o json stats
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["devices"][0]["totals"]["guest_to_backend_bytes"]')" = 0 ]
        [ "$(json_field 'j["devices"][0]["queues"][0]["index"]')" = 0 ]
        [ "$(json_field '"backend_to_guest_data_bytes" in j["devices"][0]["device_counters"]')" = True ]

        run "$VUCTL" -o prometheus stats
        [ "$status" -eq 0 ]
        [[ "$output" == *'# TYPE vusidecar_queue_kicks_total counter'* ]]
        [[ "$output" == *'vusidecar_queue_kicks_total{device="blk0",queue="0"} 0'* ]]
        # every metric family is announced once
        [ "$(grep -c '^# TYPE vusidecar_queue_kicks_total' <<<"$output")" -eq 1 ]
}

@test "stats --watch refreshes with rates until interrupted" {
        run timeout --preserve-status -s INT 3 "$VUCTL" stats --watch 1
        [ "$status" -eq 0 ]
        [[ "$output" == *"rates per second"* ]]
        [[ "$output" == *"KICKS/s"* ]]
        [ "$(grep -c '^blk0 (blk)' <<<"$output")" -ge 2 ]
}

@test "queues without a frontend lists none; dump says the queue is not set up (exit 1)" {
        run "$VUCTL" queues
        [ "$status" -eq 0 ]
        [[ "$output" == *"blk0: 0 queues"* ]]
        run "$VUCTL" -j queues
        [ "$(json_field 'j["connected"]')" = False ]

        run "$VUCTL" dump 0
        [ "$status" -eq 1 ]
        [[ "$output" == *"queue 0 of blk0 is not set up"* ]]
}

@test "log shows the dirty log inactive" {
        run "$VUCTL" log
        [ "$status" -eq 0 ]
        [[ "$output" == *"dirty log inactive"* ]]
        run "$VUCTL" -j log
        [ "$(json_field 'j["active"]')" = False ]
        [ "$(json_field 'j["started_realtime_usec"]')" = None ]
}

@test "set log-level changes the daemon's level and status shows it" {
        run "$VUCTL" set log-level warning
        [ "$status" -eq 0 ]
        [[ "$output" == *"debug -> warning"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = warning ]
}

@test "set iops/bps applies limits in one call; read-only toggles" {
        run "$VUCTL" set iops 500 bps 4M
        [ "$status" -eq 0 ]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["config"]["iops_limit"]')" = 500 ]
        [ "$(json_field 'j["devices"][0]["config"]["bps_limit"]')" = 4194304 ]

        run "$VUCTL" set read-only on
        [ "$status" -eq 0 ]
        [[ "$output" == *"off -> on"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["config"]["read_only"]')" = True ]
        run "$VUCTL" set read-only off
        [ "$status" -eq 0 ]
}

@test "set refuses bad keys and values before sending anything (exit 2)" {
        run "$VUCTL" set log-level debug colour blue
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown setting 'colour'"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = debug ]

        run "$VUCTL" set iops -5
        [ "$status" -eq 2 ]
        run "$VUCTL" set read-only maybe
        [ "$status" -eq 2 ]
        run "$VUCTL" set log-level
        [ "$status" -eq 2 ]
}

@test "set poll on a blk device is refused with the reason (only net devices poll)" {
        run "$VUCTL" set poll 50
        [ "$status" -eq 1 ]
        [[ "$output" == *"blk0"*"does not poll"* ]]
}

@test "resize grows the image; sizes take suffixes; bad sizes are usage errors" {
        run "$VUCTL" resize 128M
        [ "$status" -eq 0 ]
        [[ "$output" == *"128 MiB"* ]]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 134217728 ]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["config"]["capacity_sectors"]')" = 262144 ]

        run "$VUCTL" resize 1000
        [ "$status" -eq 2 ]
        run "$VUCTL" resize 12Q
        [ "$status" -eq 2 ]
        run "$VUCTL" resize
        [ "$status" -eq 2 ]
}

@test "reset-stats succeeds" {
        run "$VUCTL" reset-stats
        [ "$status" -eq 0 ]
        [[ "$output" == *"reset"* ]]
}

@test "monitor streams events as they happen until interrupted" {
        "$VUCTL" -j monitor >"$TEST_DIR/monitor.out" 2>&1 &
        local mon=$!
        for _ in $(seq 50); do
                grep -q subscribed "$TEST_DIR/monitor.out" && break
                sleep 0.1
        done
        run "$VUCTL" set log-level info
        [ "$status" -eq 0 ]
        run "$VUCTL" resize 96M
        [ "$status" -eq 0 ]
        for _ in $(seq 50); do
                grep -q '"resize"' "$TEST_DIR/monitor.out" && break
                sleep 0.1
        done
        kill -INT "$mon"
        local rc=0
        wait "$mon" || rc=$?
        cat "$TEST_DIR/monitor.out"
        [ "$rc" -eq 0 ]
        grep -q '"event":"log-level"' "$TEST_DIR/monitor.out"
        grep -q '"event":"resize"' "$TEST_DIR/monitor.out"
        grep -q '"device":"blk0"' "$TEST_DIR/monitor.out"
}

@test "monitor ends with exit 1 when the sidecar stops" {
        "$VUCTL" monitor >"$TEST_DIR/monitor.out" 2>&1 &
        local mon=$!
        sleep 0.5
        kill -TERM "$SIDECAR_PID"
        wait "$SIDECAR_PID" || true
        SIDECAR_PID=
        local rc=0
        wait "$mon" || rc=$?
        cat "$TEST_DIR/monitor.out"
        [ "$rc" -eq 1 ]
        grep -q "closed the connection" "$TEST_DIR/monitor.out"
}

@test "help, usage errors and an absent sidecar give exit codes 0, 2 and 3" {
        run "$VUCTL" help
        [ "$status" -eq 0 ]
        [[ "$output" == *"reset-stats"* ]]
        run "$VUCTL" frobnicate
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown verb 'frobnicate'"* ]]
        run "$VUCTL" --output xml status
        [ "$status" -eq 2 ]
        run "$VUCTL" -o prometheus status
        [ "$status" -eq 2 ]
        run "$VUCTL" --socket "$TEST_DIR/absent.sock" ping
        [ "$status" -eq 3 ]
        [[ "$output" == *"cannot connect to $TEST_DIR/absent.sock"*"is vu-sidecar running?"* ]]
        VUCTL_SOCKET="$TEST_DIR/absent2.sock" run "$VUCTL" status
        [ "$status" -eq 3 ]
        [[ "$output" == *"absent2.sock"* ]]
}

@test "with two devices, per-device verbs need --device; the others cover both" {
        stop_sidecar
        SECOND_DEVICE=data start_sidecar
        run "$VUCTL" queues
        [ "$status" -eq 1 ]
        [[ "$output" == *"several devices (blk0 data)"*"--device"* ]]
        run "$VUCTL" --device data -j queues
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["device"]')" = data ]
        run "$VUCTL" -j stats
        [ "$(json_field '[d["id"] for d in j["devices"]]')" = "['blk0', 'data']" ]
        run "$VUCTL" --device data resize 64M
        [ "$status" -eq 0 ]
        [ "$(stat -c %s "$TEST_DIR/disk2.img")" -eq 67108864 ]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 67108864 ]
        run "$VUCTL" -o prometheus stats
        [[ "$output" == *'device="data"'* ]]
        [ "$(grep -c '^# TYPE vusidecar_device_requests_read_total' <<<"$output")" -eq 1 ]
}

@test "resize refuses to shrink without --shrink, naming both sizes; the data past the new end stays" {
        printf 'precious' | dd of="$TEST_DIR/disk.img" bs=1M seek=60 conv=notrunc status=none
        run "$VUCTL" resize 32M
        [ "$status" -eq 1 ]
        [[ "$output" == *"blk0 is 64.0 MiB (67108864 bytes)"*"to 32.0 MiB (33554432 bytes)"* ]]
        [[ "$output" == *"vuctl resize --shrink 32M"* ]]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 67108864 ]
        [ "$(dd if="$TEST_DIR/disk.img" bs=1M skip=60 count=1 status=none | head -c 8)" = precious ]
        # The same through the protocol: shrink is a parameter, the refusal its own error.
        run vl_call '{"method":"io.vusidecar.Resize","parameters":{"size":33554432}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.ShrinkRefused ]
        [ "$(json_field 'j["parameters"]["size"]')" = 33554432 ]
        [ "$(json_field 'j["parameters"]["current_size"]')" = 67108864 ]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 67108864 ]

        # Asked for explicitly, it shrinks.
        run "$VUCTL" resize --shrink 32M
        [ "$status" -eq 0 ]
        [[ "$output" == *"from 64.0 MiB to 32.0 MiB"* ]]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 33554432 ]
        run vl_call '{"method":"io.vusidecar.Resize","parameters":{"size":16777216,"shrink":true}}'
        [ "$(json_field 'j["parameters"]["previous_size"]')" = 33554432 ]
        [ "$(json_field 'j["parameters"]["size"]')" = 16777216 ]
        # Growing needs nothing; --shrink is only for resize.
        run "$VUCTL" resize 64M
        [ "$status" -eq 0 ]
        run "$VUCTL" --shrink status
        [ "$status" -eq 2 ]
}

@test "resize refuses a read-only device, made so at run time or at start, and says why" {
        stop_sidecar
        READ_ONLY_DEVICE=ro start_sidecar
        run "$VUCTL" -d blk0 set read-only on
        [ "$status" -eq 0 ]
        run "$VUCTL" -d blk0 resize 128M
        [ "$status" -eq 1 ]
        [[ "$output" == *"blk0 is read-only"*"set read-only off"* ]]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 67108864 ]
        run vl_call '{"method":"io.vusidecar.Resize","parameters":{"device":"blk0","size":134217728}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.DeviceReadOnly ]
        run "$VUCTL" -d blk0 set read-only off
        run "$VUCTL" -d blk0 resize 128M
        [ "$status" -eq 0 ]
        [ "$(stat -c %s "$TEST_DIR/disk.img")" -eq 134217728 ]

        run "$VUCTL" -d ro resize 64M
        [ "$status" -eq 1 ]
        [[ "$output" == *"ro is read-only"* ]]
        [ "$(stat -c %s "$TEST_DIR/ro.img")" -eq 33554432 ]
}

@test "set link is in --help, the man pages and the bash completion" {
        run "$VUCTL" --help
        [[ "$output" == *"link up|down"* ]]
        [[ "$(grep '^  set ' <<<"$output")" == *"link"* ]]
        grep -q 'link' <(sed -n '/^\.BI "set "/,/^\.TP/p' "$SRC_DIR/man/vuctl.1")
        grep -q 'SetLink(device?, up)' "$SRC_DIR/man/vu-sidecar-control.7"
        run bash -c '
                source /usr/share/bash-completion/bash_completion 2>/dev/null || exit 77
                source "$1/cli/vuctl.bash"
                COMP_WORDS=(vuctl set ""); COMP_CWORD=2; COMP_LINE="vuctl set "; COMP_POINT=${#COMP_LINE}
                _vuctl; echo "keys: ${COMPREPLY[*]}"
                COMP_WORDS=(vuctl set link ""); COMP_CWORD=3; COMP_LINE="vuctl set link "; COMP_POINT=${#COMP_LINE}
                _vuctl; echo "values: ${COMPREPLY[*]}"
                COMP_WORDS=(vuctl resize --sh); COMP_CWORD=2; COMP_LINE="vuctl resize --sh"; COMP_POINT=${#COMP_LINE}
                _vuctl; echo "options: ${COMPREPLY[*]}"' _ "$SRC_DIR"
        [ "$status" -ne 77 ] || skip "bash-completion is not installed"
        echo "$output"
        [[ "$output" == *"keys: "*"link"* ]]
        [[ "$output" == *"values: up down"* ]]
        [[ "$output" == *"options: --shrink"* ]]
}

@test "dump: a queue the device does not have is named as such before any frontend; --count 0 is refused" {
        run "$VUCTL" dump 5
        [ "$status" -eq 1 ]
        [[ "$output" == *"device blk0 has no queue 5 (it has 1 queue"* ]]
        [[ "$output" != *"not set up"* ]]
        run vl_call '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":5}}'
        [ "$(json_field 'j["error"]')" = io.vusidecar.NoSuchQueue ]
        [ "$(json_field 'j["parameters"]["queues"]')" = 1 ]
        run "$VUCTL" dump 0 --count 0
        [ "$status" -eq 2 ]
        [[ "$output" == *"--count takes a number from 1 to 1024"* ]]
        run vl_call '{"method":"io.vusidecar.DumpQueue","parameters":{"queue":0,"count":0}}'
        [ "$(json_field 'j["parameters"]["parameter"]')" = count ]
}

@test "usage errors say what is wrong: an empty --socket, a negative value" {
        run "$VUCTL" --socket= ping
        [ "$status" -eq 2 ]
        [[ "$output" == *"--socket needs a path"* ]]
        run "$VUCTL" -s '' ping
        [ "$status" -eq 2 ]
        run "$VUCTL" set iops -1
        [ "$status" -eq 2 ]
        [[ "$output" == *"iops takes a number"*"not '-1'"* ]]
        [[ "$output" != *"unknown option"* ]]
        run "$VUCTL" set iops 5 bps -3M
        [ "$status" -eq 2 ]
        [[ "$output" == *"not '-3M'"* ]]
        run "$VUCTL" dump -1
        [ "$status" -eq 2 ]
        [[ "$output" == *"'-1' is not a queue index"* ]]
        run "$VUCTL" resize -5G
        [ "$status" -eq 2 ]
        [[ "$output" == *"'-5G' is not a size"* ]]
        # A real unknown option is still one.
        run "$VUCTL" -x ping
        [ "$status" -eq 2 ]
        [[ "$output" == *"unknown option '-x'"* ]]
}

@test "set says which settings were applied when the sidecar refuses one" {
        stop_sidecar
        READ_ONLY_DEVICE=ro start_sidecar
        run "$VUCTL" -d ro set log-level info read-only off iops 9
        [ "$status" -eq 1 ]
        [[ "$output" == *"log-level: debug -> info"* ]]
        [[ "$output" == *"cannot be made writable"* ]]
        [[ "$output" == *"applied: log-level info; not applied: read-only off (refused), iops 9"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = info ]
        [ "$(json_field '[d for d in j["devices"] if d["id"] == "ro"][0]["config"]["iops_limit"]')" = 0 ]
}

@test "set changes nothing when the device is wrong or lacks the setting" {
        run "$VUCTL" -d nope set log-level err iops 5
        [ "$status" -eq 1 ]
        [[ "$output" == *"no device 'nope'"*"nothing was changed"* ]]
        run "$VUCTL" set log-level err link up
        [ "$status" -eq 1 ]
        [[ "$output" == *"blk0 is a blk device: link applies to network devices only"*"nothing was changed"* ]]
        run "$VUCTL" -j status
        [ "$(json_field 'j["log_level"]')" = debug ]
}

@test "set -j prints one indented JSON object, like every other -j output" {
        run "$VUCTL" -j set log-level info iops 5 bps 1M
        [ "$status" -eq 0 ]
        [ "$(json_field 'j["log-level"]["previous"]')" = debug ]
        [ "$(json_field 'j["limits"]["iops"]')" = 5 ]
        [ "$(json_field 'j["limits"]["bps"]')" = 1048576 ]
        [ "$(wc -l <<<"$output")" -gt 3 ]
        [[ "$(sed -n 2p <<<"$output")" == "  "* ]]
}

@test "bps takes K, M and G as --blk bps= does; T is refused by both" {
        run "$VUCTL" set bps 1T
        [ "$status" -eq 2 ]
        [[ "$output" == *"K, M or G"*"not '1T'"* ]]
        run "$VUCTL" set bps 2g
        [ "$status" -eq 0 ]
        run "$VUCTL" -j status
        [ "$(json_field 'j["devices"][0]["config"]["bps_limit"]')" = 2147483648 ]
        run "$VU_SIDECAR" --blk "path=$TEST_DIR/disk.img,id=x,bps=1T" --control none --runtime-dir "$TEST_DIR"
        [ "$status" -eq 2 ]
}

@test "status labels the started queues and the configured queue count differently" {
        run "$VUCTL" status
        [ "$status" -eq 0 ]
        [[ "$output" == *"queues started        0 of 1 (no frontend)"* ]]
        [[ "$output" == *"queues configured     1"* ]]
        [ "$(grep -cE '^  queues +[0-9]' <<<"$output")" -eq 0 ]
}

@test "prometheus: an up gauge, a connected gauge per device, resubmitted chains, clean counter names" {
        run "$VUCTL" -o prometheus stats
        [ "$status" -eq 0 ]
        [[ "$output" == *$'\nvusidecar_up 1\n'* ]]
        [[ "$output" == *'vusidecar_device_connected{device="blk0",type="blk"} 0'* ]]
        [[ "$output" == *'# TYPE vusidecar_queue_resubmitted_chains_total counter'* ]]
        [[ "$output" == *'vusidecar_device_latency_usec_total{device="blk0",type="blk"} 0'* ]]
        [[ "$output" != *"_total_total"* ]]
        [[ "$output" == *'vusidecar_device_connections_total{'* ]]
        # A scrape that cannot reach the sidecar says so in the metrics too.
        run "$VUCTL" -o prometheus --socket "$TEST_DIR/absent.sock" stats
        [ "$status" -eq 3 ]
        [[ "$output" == *"vusidecar_up 0"* ]]
}

@test "stats --watch shows the totals beside the rates" {
        run timeout --preserve-status -s INT 3 "$VUCTL" stats --watch 1
        [ "$status" -eq 0 ]
        [[ "$output" == *"blk0 (blk): totals"* ]]
        [[ "$output" == *"blk0: rates per second"* ]]
        [[ "$output" == *" KICKS "*"RESUBMITTED"* ]]
        [[ "$output" == *"KICKS/s"* ]]
}
