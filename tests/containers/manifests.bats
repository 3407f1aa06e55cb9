#!/usr/bin/env bats
# SPDX-License-Identifier: GPL-2.0-or-later
# The deployment files that cannot run on this machine (KubeVirt, and the
# shape of the pod YAML) checked for what an operator relies on: every YAML
# parses, the pods run non-root with no capabilities, a read-only root and
# vuctl probes, the sidecar and QEMU share the socket directory, and the
# KubeVirt hook really turns a domain into one with a vhost-user disk and
# shared memory (and refuses a bad device id). No podman needed.

kv=$BATS_TEST_DIRNAME/../../containers/kubevirt

setup() {
        python3 -c 'import yaml' 2>/dev/null || skip "python3-yaml is missing (scripts/setup-deps installs it)"
}

@test "manifests: every YAML parses; pod and injected sidecar are non-root, drop ALL, read-only, probed by vuctl ping" {
        run python3 - "$BATS_TEST_DIRNAME/../../containers" <<'PY'
import glob, os, sys, yaml
root = sys.argv[1]
files = glob.glob(os.path.join(root, "**", "*.yaml"), recursive=True)
assert len(files) >= 4, files
docs = {os.path.relpath(f, root): list(yaml.safe_load_all(open(f))) for f in files}

def hardened(c, uid):
    sc = c["securityContext"]
    assert sc["runAsNonRoot"] is True and sc["runAsUser"] == uid, (c["name"], sc)
    assert sc["readOnlyRootFilesystem"] is True, c["name"]
    assert sc["allowPrivilegeEscalation"] is False, c["name"]
    assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["exec"]["command"] == ["/usr/bin/vuctl", "ping"], (c["name"], probe)

pod = docs["kube/vusidecar-pod.yaml"][0]
sidecar = pod["spec"]["containers"][0]
hardened(sidecar, 65532)
assert {"name": "sockets", "mountPath": "/run/vusidecar"} in sidecar["volumeMounts"]

policy = docs["kubevirt/vusidecar-inject-policy.yaml"][0]
patch = policy["spec"]["rules"][0]["mutate"]["patchStrategicMerge"]["spec"]
injected = patch["initContainers"][0]
hardened(injected, 107)  # QEMU's uid in virt-launcher: it must reach the 0660 sockets
assert injected["restartPolicy"] == "Always"
mount = {"name": "vusidecar-sockets", "mountPath": "/var/run/vusidecar"}
assert mount in injected["volumeMounts"]
compute = [c for c in patch["containers"] if c.get("(name)") == "compute"][0]
assert mount in compute["volumeMounts"], "compute must see the sockets"
assert any(v["name"] == "vusidecar-sockets" and "emptyDir" in v for v in patch["volumes"])

vmi = [d for d in docs["kubevirt/vmi.yaml"] if d["kind"] == "VirtualMachineInstance"][0]
assert vmi["metadata"]["labels"]["vusidecar.io/enabled"] == "true"
import json
hooks = json.loads(vmi["metadata"]["annotations"]["hooks.kubevirt.io/hookSidecars"])
assert hooks[0]["configMap"]["name"] == "vusidecar-hook"
cm = docs["kubevirt/vusidecar-hook-configmap.yaml"][0]
assert hooks[0]["configMap"]["key"] in cm["data"]
assert cm["data"]["onDefineDomain.py"] == open(os.path.join(root, "kubevirt", "onDefineDomain.py")).read(), \
    "the ConfigMap's script differs from kubevirt/onDefineDomain.py: regenerate it"
print("ok:", sorted(docs))
PY
        echo "$output"
        [[ $status -eq 0 ]]
}

@test "manifests: the KubeVirt hook adds vhost-user disks and shared memory, once, and refuses a bad id" {
        local domain vmi out
        domain="<domain type='kvm'><name>default_vm</name><memory unit='b'>2147483648</memory><devices><disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk></devices></domain>"
        vmi='{"metadata":{"annotations":{"vusidecar.io/disks":"blk0,data"}}}'
        run "$kv/onDefineDomain.py" --vmi "$vmi" --domain "$domain"
        echo "$output"
        [[ $status -eq 0 ]]
        out=$output
        run python3 - "$out" <<'PY'
import sys, xml.etree.ElementTree as ET
d = ET.fromstring(sys.argv[1])
mb = d.find("memoryBacking")
assert mb.find("source").get("type") == "memfd" and mb.find("access").get("mode") == "shared"
vu = [x for x in d.find("devices").findall("disk") if x.get("type") == "vhostuser"]
assert [x.find("source").get("path") for x in vu] == ["/var/run/vusidecar/blk0.sock", "/var/run/vusidecar/data.sock"]
assert [x.find("target").get("dev") for x in vu] == ["vdz", "vdy"]
assert len(d.find("devices").findall("disk")) == 3, "KubeVirt's own disk must stay"
PY
        echo "$output"
        [[ $status -eq 0 ]]
        # Run on its own output: nothing is added twice.
        run "$kv/onDefineDomain.py" --vmi "$vmi" --domain "$out"
        [[ $status -eq 0 ]]
        [[ $(grep -o "type=\"vhostuser\"" <<< "$output" | wc -l) -eq 2 ]]

        run "$kv/onDefineDomain.py" --vmi '{"metadata":{"annotations":{"vusidecar.io/disks":"../etc"}}}' --domain "$domain"
        echo "$output"
        [[ $status -eq 1 ]]
        [[ $output == *"bad device id '../etc'"* ]]
}
