#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# Packed virtqueues with a real frontend: QEMU's vhost-user-blk-pci with
# packed=on, so the guest's virtio driver lays out packed rings and the
# sidecar serves them. The guest checks what a user of the disk notices, as
# blk-sidecar.bats does with split rings (data, flush, discard, write-zeroes,
# two queues, both I/O engines, a ring of 1024 that wraps many times, QEMU and
# the sidecar restarting), and vuctl must read the live ring: wrap counters,
# event areas, and no slot left available once the guest is idle.

load lib/vutest

setup() {
        if [[ -z ${VU_SIDECAR:-} ]]; then
                skip "VU_SIDECAR is unset: no vu-sidecar target in this build (ctest sets it when sidecar/ builds)"
        fi
        vt_setup
        img=$(vt_image 64)
        sock=$VT_TMP/vu.sock
}

teardown() {
        vt_cleanup
}

# json EXPR — evaluate a Python expression on the JSON in $output (as j).
json() {
        python3 -c 'import json, sys; j = json.loads(sys.stdin.read()); print(eval(sys.argv[1]))' "$1" <<<"$output"
}

@test "packed: the guest writes, verifies, flushes, discards and zeroes, sees capacity and serial" {
        vt_start_sidecar "$sock" "path=$img,serial=PK-0001"
        run qemu_boot_blk "$sock" --packed \
                --args "vutest=packed,capacity,serial,write,flush,discard,zeroes,verify vutest.sectors=131072 vutest.serial=PK-0001 vutest.seed=41"
        vt_check packed capacity serial write flush discard zeroes verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: 2 queues and 2 vCPUs, both queues carry I/O" {
        vt_start_sidecar "$sock" "path=$img,queues=2"
        run qemu_boot_blk "$sock" --packed --smp 2 --args "vutest=packed,mq,write,verify vutest.queues=2 vutest.seed=42"
        vt_check packed mq write verify
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: --io-engine threads serves the same checks on 2 queues" {
        vt_start_sidecar "$sock" "path=$img,queues=2" --io-engine threads
        run qemu_boot_blk "$sock" --packed --smp 2 \
                --args "vutest=packed,write,verify,flush,discard,zeroes,mq vutest.queues=2 vutest.seed=43"
        vt_check packed write verify flush discard zeroes mq
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: the whole disk through a 1024-entry ring, which wraps many times" {
        vt_start_sidecar "$sock" "path=$img,queue-size=1024"
        run qemu_boot_blk "$sock" --packed --queue-size 1024 \
                --args "vutest=packed,write,verify vutest.mib=0 vutest.seed=44"
        vt_check packed write verify
        grep -q '^VUTEST: PASS verify bytes=67108864 ' <<<"$output"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: QEMU stopped, then killed under an open disk; a new QEMU finds the data each time" {
        vt_start_sidecar "$sock" "path=$img"
        run qemu_boot_blk "$sock" --packed --args "vutest=packed,write,verify vutest.seed=45"
        vt_check packed write verify
        # The next frontend starts its packed rings at slot 0, lap 1: the old ring state must not linger.
        qemu_boot_blk "$sock" --packed --bg --args "vutest=verify-only,write,idle vutest.seed=45 vutest.idle-secs=60"
        vt_wait_console '^VUTEST: IDLE begin' 90
        grep -q '^VUTEST: PASS verify-only' "$VT_CONSOLE"
        kill -KILL "$VT_QEMU_PID"
        run qemu_boot_blk "$sock" --packed --args "vutest=packed,verify-only vutest.seed=45"
        vt_check packed verify-only
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: the sidecar restarted while QEMU (reconnect=1) idles; the guest then finds its data" {
        vt_start_sidecar "$sock" "path=$img"
        qemu_boot_blk "$sock" --packed --bg --reconnect \
                --args "vutest=packed,write,idle,verify-only vutest.seed=46 vutest.idle-secs=10"
        vt_wait_console '^VUTEST: IDLE begin' 90
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
        rm -f "$sock"
        vt_start_sidecar "$sock" "path=$img"
        vt_wait_qemu
        vt_check packed write idle verify-only
        # The new sidecar served a packed ring, resumed where QEMU said the old one stood.
        grep -E 'queue 0 started \(packed' "$VT_TMP/sidecar.log" | sed 's/^/# /' >&3
        grep -Eq 'queue 0 started \(packed' "$VT_TMP/sidecar.log"
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}

@test "packed: vuctl queues and dump read the live ring of an idle guest" {
        vt_start_sidecar "$sock" "path=$img"
        qemu_boot_blk "$sock" --packed --bg --args "vutest=packed,write,verify,idle vutest.seed=47 vutest.idle-secs=15"
        vt_wait_console '^VUTEST: IDLE begin' 90
        export VUCTL_SOCKET=$VT_TMP/control.sock

        # Every call while the guest idles (15 s), the checks after: under ASan on a loaded
        # machine the checks alone can outlast the idle guest.
        run "$VUCTL" -j queues
        [ "$status" -eq 0 ]
        echo "$output" >"$VT_TMP/queues.json"
        local size
        size=$(json 'j["queues"][0]["size"]')
        run "$VUCTL" -j dump 0 --count "$size"
        [ "$status" -eq 0 ]
        echo "$output" >"$VT_TMP/dump.json"
        local dump_text queues_text
        run "$VUCTL" dump 0 --count 4
        [ "$status" -eq 0 ]
        dump_text=$output
        run "$VUCTL" queues
        [ "$status" -eq 0 ]
        queues_text=$output

        output=$(cat "$VT_TMP/queues.json")
        [ "$(json 'j["queues"][0]["packed"]')" = True ]
        [ "$(json 'j["queues"][0]["started"]')" = True ]
        local last used wrap uwrap
        last=$(json 'j["queues"][0]["last_avail_idx"]')
        used=$(json 'j["queues"][0]["used_idx"]')
        wrap=$(json 'j["queues"][0]["avail_wrap_counter"]')
        uwrap=$(json 'j["queues"][0]["used_wrap_counter"]')
        echo "# queue 0: $size slots, reads at $last (wrap $wrap), writes at $used (wrap $uwrap)" >&3
        # 16 MiB written and read back went round a ring of $size slots more than once.
        [ "$(json 'j["queues"][0]["in_use"]')" = 0 ]
        # Idle: every buffer taken was returned, so reading and writing stand at the same slot and lap.
        [ "$last" = "$used" ]
        [ "$wrap" = "$uwrap" ]
        [ "$(json 'j["queues"][0]["driver_event"]["mode"] in ("ENABLE", "DISABLE", "DESC")')" = True ]
        # Our event area either asks for every kick, or (EVENT_IDX) for the next slot we read, in our lap.
        [ "$(json '(lambda q, e: e["mode"] == "ENABLE" or (e["mode"] == "DESC" and e["offset"] == q["last_avail_idx"] and e["wrap"] == q["avail_wrap_counter"]))(j["queues"][0], j["queues"][0]["device_event"])')" = True ]

        output=$(cat "$VT_TMP/dump.json")
        [ "$(json 'j["packed"]')" = True ]
        [ "$(json 'len(j["descriptors"])')" = "$size" ]
        [ "$(json 'j["avail"] is None and j["used"] is None')" = True ]
        [ "$(json 'j["device_event"] is not None and j["driver_event"] is not None')" = True ]
        # Nothing is waiting for the device while the guest is idle...
        [ "$(json 'sum(d["available"] for d in j["descriptors"])')" = 0 ]
        # ...and the used descriptors the device wrote carry buffer ids inside the ring.
        [ "$(json 'all(d["buffer_id"] < j["size"] for d in j["descriptors"] if d["state"] == "used" and d["flags"])')" = True ]

        [[ $dump_text == *"packed ring of $size"* ]]
        [[ $dump_text == *"device reads next at slot $last"* ]]
        [[ $dump_text == *"driver event area"* ]]
        [[ $queues_text == *"AVAIL_WRAP"* ]]

        vt_wait_qemu
        vt_check packed write verify idle
        vt_stop_clean "$VT_SIDECAR_PID" sidecar
}
