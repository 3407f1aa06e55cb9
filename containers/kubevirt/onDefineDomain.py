#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# KubeVirt onDefineDomain hook (run by KubeVirt's sidecar-shim from the
# vusidecar-hook ConfigMap): attach the disks vu-sidecar serves to the
# domain libvirt is about to define, as vhost-user disks, and back guest
# memory with a shared memfd, without which a vhost-user backend cannot reach
# the rings. Called as `onDefineDomain --vmi JSON --domain XML`; prints the
# new domain XML. The disks come from the VMI annotation
# vusidecar.io/disks: "blk0" or "blk0,blk1" (socket
# /var/run/vusidecar/ID.sock each; guest names vdz, vdy, … so they never clash
# with KubeVirt's own disks).
import argparse
import json
import re
import sys
import xml.etree.ElementTree as ET

SOCKET_DIR = "/var/run/vusidecar"
ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


def disk_ids(vmi):
    annotations = vmi.get("metadata", {}).get("annotations", {}) or {}
    value = annotations.get("vusidecar.io/disks", "blk0")
    ids = [i.strip() for i in value.split(",") if i.strip()]
    for i in ids:
        if not ID_RE.match(i):
            raise ValueError("vusidecar.io/disks: bad device id %r (allowed: [A-Za-z0-9_.-]{1,32})" % i)
    if len(ids) > 26:
        raise ValueError("vusidecar.io/disks: %d devices, at most 26" % len(ids))
    return ids


def share_memory(domain):
    backing = domain.find("memoryBacking")
    if backing is None:
        backing = ET.SubElement(domain, "memoryBacking")
    source = backing.find("source")
    if source is None:
        source = ET.SubElement(backing, "source")
    # Hugepages stay as they are (they are shareable); otherwise memfd.
    if backing.find("hugepages") is None:
        source.set("type", "memfd")
    access = backing.find("access")
    if access is None:
        access = ET.SubElement(backing, "access")
    access.set("mode", "shared")


def add_disk(devices, dev_id, target):
    for disk in devices.findall("disk"):
        src = disk.find("source")
        if disk.get("type") == "vhostuser" and src is not None and src.get("path", "").endswith("/%s.sock" % dev_id):
            return  # already there: the hook may run more than once
    disk = ET.SubElement(devices, "disk", {"type": "vhostuser", "device": "disk"})
    ET.SubElement(disk, "driver", {"name": "qemu", "type": "raw", "queues": "1"})
    source = ET.SubElement(disk, "source", {"type": "unix", "path": "%s/%s.sock" % (SOCKET_DIR, dev_id)})
    # QEMU reconnects if the sidecar restarts (it resets and accepts again).
    ET.SubElement(source, "reconnect", {"enabled": "yes", "timeout": "1"})
    ET.SubElement(disk, "target", {"dev": target, "bus": "virtio"})
    ET.SubElement(disk, "alias", {"name": "ua-vusidecar-%s" % dev_id})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vmi", required=True)
    parser.add_argument("--domain", required=True)
    args, _ = parser.parse_known_args()
    vmi = json.loads(args.vmi)
    domain = ET.fromstring(args.domain)
    devices = domain.find("devices")
    if devices is None:
        devices = ET.SubElement(domain, "devices")
    share_memory(domain)
    for n, dev_id in enumerate(disk_ids(vmi)):
        add_disk(devices, dev_id, "vd" + chr(ord("z") - n))
    sys.stdout.write(ET.tostring(domain, encoding="unicode"))


if __name__ == "__main__":
    try:
        main()
    except (ValueError, json.JSONDecodeError, ET.ParseError) as e:
        sys.stderr.write("vusidecar onDefineDomain: %s\n" % e)
        sys.exit(1)
