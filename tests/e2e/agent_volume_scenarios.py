"""Volumes, env, securityContext and QoS scenarios for the agent. Not collected by itself:
tests/e2e/test_agent_volumes.py runs it inside private network, mount and PID namespaces. One
cluster (from agent_scenarios.py's fixture) serves every check."""
import base64
import glob
import json
import os
import time

from agent_scenarios import cluster, create, is_cgroup, pod_body, record_uids  # noqa: F401 (fixtures)
from test_scheduler import wait_for

assert cluster and record_uids


def waiting(c, name, idx=0):
    cs = (c.pod(name) or {}).get("status", {}).get("containerStatuses") or [{}]
    return cs[idx].get("state", {}).get("waiting", {})


def running(c, name):
    p = c.pod(name) or {}
    cs = p.get("status", {}).get("containerStatuses") or []
    return cs and all("running" in x.get("state", {}) for x in cs)


def started(c, pod, ctrs):
    """Running in the status means the shim was started; exec works once the runtime has
    created the container (slower for a privileged one: it makes the host's devices)."""
    for ctr in ctrs:
        wait_for(lambda: exec_out(c, pod, "true", ctr=ctr, check=False).returncode == 0,
                 timeout=30, what=f"{pod}/{ctr} accepting exec")


def exec_out(c, pod, cmd, ctr="main", check=True):
    r = c.kubectl("exec", pod, "-c", ctr, "--", "sh", "-c", cmd, check=check)
    return r.stdout if check else r


def test_volumes_env_and_security_in_one_pod(cluster):
    c = cluster
    host_dir = os.path.join(c.agent_dir, "host-share")
    c.kubectl("create", "configmap", "vol-cm", "--from-literal=a=1",
              "--from-literal=b.txt=bee", "--from-literal=1bad=x")
    c.kubectl("create", "secret", "generic", "vol-sec", "--from-literal=pw=s3cret")
    c.kubectl("create", "serviceaccount", "vol-sa")
    limits = {"limits": {"cpu": "100m", "memory": "64Mi"}}
    main = {"name": "main", "image": "example.org/busybox:1.0", "imagePullPolicy": "Never",
            "command": ["sh", "-c", "echo '$(GREETING)' > /shared/from-main; exec sleep 1000"],
            "resources": limits,
            "securityContext": {"readOnlyRootFilesystem": True},
            "envFrom": [{"prefix": "CM_", "configMapRef": {"name": "vol-cm"}},
                        {"configMapRef": {"name": "vol-cm"}}],
            "env": [{"name": "GREETING", "value": "hello-$(POD_NAME)-$$-$(NOPE)"},
                    {"name": "POD_NAME", "valueFrom": {"fieldRef": {
                        "fieldPath": "metadata.name"}}},
                    {"name": "GREETING2", "value": "hi-$(POD_NAME)"},
                    {"name": "APP", "valueFrom": {"fieldRef": {
                        "fieldPath": "metadata.labels['app']"}}},
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "HOST_IP", "valueFrom": {"fieldRef": {
                        "fieldPath": "status.hostIP"}}},
                    {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {
                        "resource": "limits.memory", "divisor": "1Mi"}}},
                    {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {
                        "resource": "limits.cpu", "divisor": "1m"}}},
                    {"name": "PW", "valueFrom": {"secretKeyRef": {
                        "name": "vol-sec", "key": "pw"}}},
                    {"name": "OPT", "valueFrom": {"configMapKeyRef": {
                        "name": "absent", "key": "k", "optional": True}}}],
            "volumeMounts": [{"name": "cm", "mountPath": "/etc/cm"},
                             {"name": "sec", "mountPath": "/etc/sec"},
                             {"name": "info", "mountPath": "/etc/info"},
                             {"name": "proj", "mountPath": "/etc/proj"},
                             {"name": "shared", "mountPath": "/shared"},
                             {"name": "mem", "mountPath": "/mem"},
                             {"name": "host", "mountPath": "/host"},
                             {"name": "cm", "mountPath": "/b.txt", "subPath": "b.txt"}]}
    side = {"name": "side", "image": "example.org/busybox:1.0", "imagePullPolicy": "Never",
            "command": ["sh", "-c", "echo from-side > /shared/from-side; exec sleep 1000"],
            "resources": limits,
            "volumeMounts": [{"name": "shared", "mountPath": "/shared"},
                             {"name": "host", "mountPath": "/host", "readOnly": True}]}
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "vols", "labels": {"app": "vols"},
                         "annotations": {"note": "n1"}},
            "spec": {"serviceAccountName": "vol-sa", "terminationGracePeriodSeconds": 1,
                     "securityContext": {"runAsUser": 1000, "runAsGroup": 3000,
                                         "fsGroup": 2000, "supplementalGroups": [4000]},
                     "containers": [main, side],
                     "volumes": [
                         {"name": "cm", "configMap": {"name": "vol-cm"}},
                         {"name": "sec", "secret": {"secretName": "vol-sec",
                                                    "defaultMode": 0o400}},
                         {"name": "info", "downwardAPI": {"items": [
                             {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                             {"path": "note", "fieldRef": {
                                 "fieldPath": "metadata.annotations['note']"}},
                             {"path": "mem", "resourceFieldRef": {
                                 "containerName": "main", "resource": "limits.memory",
                                 "divisor": "1Mi"}}]}},
                         {"name": "proj", "projected": {"sources": [
                             {"configMap": {"name": "vol-cm",
                                            "items": [{"key": "a", "path": "cm-a"}]}},
                             {"secret": {"name": "vol-sec",
                                         "items": [{"key": "pw", "path": "dir/pw"}]}},
                             {"downwardAPI": {"items": [{"path": "name", "fieldRef": {
                                 "fieldPath": "metadata.name"}}]}},
                             {"serviceAccountToken": {"path": "token",
                                                      "expirationSeconds": 3600}}]}},
                         {"name": "shared", "emptyDir": {}},
                         {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
                         {"name": "host", "hostPath": {"path": host_dir,
                                                       "type": "DirectoryOrCreate"}}]}}
    create(c, body)
    wait_for(lambda: running(c, "vols"), timeout=60, what="vols running")
    started(c, "vols", ["main", "side"])
    p = c.pod("vols")
    assert p["status"]["qosClass"] == "Guaranteed"
    # env: literal with $(VAR) expansion, refs, downward API, envFrom with prefix
    env = dict(line.split("=", 1) for line in
               exec_out(c, "vols", "tr '\\0' '\\n' < /proc/1/environ").splitlines()
               if "=" in line)
    # $$ escapes; POD_NAME is defined later, NOPE never: both kept as written
    assert env["GREETING"] == "hello-$(POD_NAME)-$-$(NOPE)"
    assert env["GREETING2"] == "hi-vols"
    assert env["APP"] == "vols" and env["NODE"] == "agent-e2e" and env["HOST_IP"] == "127.0.0.1"
    assert env["MEM_MI"] == "64" and env["CPU_M"] == "100" and env["PW"] == "s3cret"
    assert env["CM_a"] == "1" and env["CM_1bad"] == "x" and env["a"] == "1"
    assert "1bad" not in env  # not a valid name without the prefix: skipped, with an Event
    # busybox sh drops names that are not shell identifiers: read what the runtime was given
    with open(os.path.join(c.agent_dir, "pods", p["metadata"]["uid"], "main",
                           "config.json")) as f:
        assert "CM_b.txt=bee" in json.load(f)["process"]["env"]
    assert "OPT" not in env
    # command expanded with the container's env
    assert exec_out(c, "vols", "cat /shared/from-main") == "hello-$(POD_NAME)-$-$(NOPE)\n"
    events = c.events("vols")
    bad = [e for e in events if e["reason"] == "InvalidEnvironmentVariableNames"]
    assert bad and "Keys [1bad] from the EnvFrom configMap default/vol-cm were skipped" in \
        bad[0]["message"], [e["message"] for e in events]
    # configMap and secret volumes, written the kubelet way
    assert exec_out(c, "vols", "cat /etc/cm/a /etc/cm/b.txt /b.txt") == "1beebee"
    assert exec_out(c, "vols", "readlink /etc/cm/a; ls -a /etc/cm | grep -c '^\\.\\.20'") == \
        "..data/a\n1\n"
    assert exec_out(c, "vols", "cat /etc/sec/pw") == "s3cret"
    # secret: defaultMode 0400 plus group read for the fsGroup, in memory
    assert exec_out(c, "vols", "stat -L -c '%a %g' /etc/sec/pw") == "440 2000\n"
    assert "tmpfs" in exec_out(c, "vols", "grep ' /etc/sec ' /proc/mounts")
    # downward API and projected volumes
    assert exec_out(c, "vols", "cat /etc/info/labels") == 'app="vols"'
    assert exec_out(c, "vols", "cat /etc/info/note /etc/info/mem") == "n164"
    assert exec_out(c, "vols", "cat /etc/proj/cm-a /etc/proj/dir/pw /etc/proj/name") == \
        "1s3cretvols"
    tok = exec_out(c, "vols", "cat /etc/proj/token")
    claims = json.loads(base64.urlsafe_b64decode(tok.split(".")[1] + "=="))
    assert claims["sub"] == "system:serviceaccount:default:vol-sa", claims
    # emptyDir shared between the containers; Memory medium is a sized tmpfs
    wait_for(lambda: exec_out(c, "vols", "cat /shared/from-side", check=False).stdout ==
             "from-side\n", what="side's file in the shared emptyDir")
    assert exec_out(c, "vols", "cat /shared/from-main", ctr="side").startswith("hello-")
    mem = exec_out(c, "vols", "grep ' /mem ' /proc/mounts")
    assert "tmpfs" in mem and "size=1024k" in mem, mem
    # hostPath: made by DirectoryOrCreate, visible to both, read-only in side
    assert os.path.isdir(host_dir)
    os.chmod(host_dir, 0o777)  # made root's 0755; no fsGroup for hostPath (as kubelet)
    exec_out(c, "vols", "echo via-host > /host/f")
    with open(os.path.join(host_dir, "f")) as f:
        assert f.read() == "via-host\n"
    r = exec_out(c, "vols", "echo x > /host/g", ctr="side", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    # securityContext: user, groups, read-only root, config files read-only
    ids = exec_out(c, "vols", "id")
    assert ids.startswith("uid=1000 gid=3000") and "2000" in ids and "4000" in ids, ids
    r = exec_out(c, "vols", "touch /rootfs-write", check=False)
    assert r.returncode != 0 and "Read-only file system" in r.stderr
    r = exec_out(c, "vols", "echo x > /etc/cm/new", check=False)
    assert r.returncode != 0
    assert exec_out(c, "vols", "echo ok > /mem/f && cat /mem/f") == "ok\n"
    # a ConfigMap change reaches the files (..data swapped) through the agent's watch of the
    # object: no GET of ConfigMaps or Secrets meanwhile (the poll it replaced made one per
    # volume source every 5 s)
    gets = source_gets(c)
    t0 = time.monotonic()
    st, _ = c.srv.json("PATCH", "/api/v1/namespaces/default/configmaps/vol-cm",
                       {"data": {"a": "2"}},  # (kubectl patch would GET it first)
                       headers={"Content-Type": "application/merge-patch+json"})
    assert st == 200
    wait_for(lambda: exec_out(c, "vols", "cat /etc/cm/a") == "2", timeout=30,
             what="configMap update in the volume")
    time.sleep(max(0.0, 6 - (time.monotonic() - t0)))
    assert source_gets(c) == gets
    assert exec_out(c, "vols", "cat /b.txt") == "bee"  # subPath keeps its file
    uid = p["metadata"]["uid"]
    c.kubectl("delete", "pod", "vols", "--wait=false")
    wait_for(lambda: c.pod("vols") is None, timeout=30, what="vols deleted")
    with open("/proc/self/mountinfo") as f:
        assert uid not in f.read()
    assert not os.path.exists(os.path.join(c.agent_dir, "pods", uid))
    assert not [x for x in glob.glob(f"/sys/fs/cgroup/*/k8c/**/pod{uid}", recursive=True)
                if is_cgroup(x)]


def source_gets(c):
    """The API server's count of GETs of ConfigMaps and Secrets (its /metrics)."""
    n = 0
    for line in c.kubectl("get", "--raw", "/metrics").stdout.splitlines():
        if line.startswith("apiserver_request_total{") and 'verb="GET"' in line and (
                'resource="configmaps"' in line or 'resource="secrets"' in line):
            n += int(line.rsplit(" ", 1)[1])
    return n


def test_missing_configmap_volume_fails_mount_until_created(cluster):
    c = cluster
    body = pod_body("late", ["sh", "-c", "cat /cfg/k; echo; exec sleep 1000"],
                    volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}])
    body["spec"]["volumes"] = [{"name": "cfg", "configMap": {"name": "late-cm"}}]
    body["spec"]["terminationGracePeriodSeconds"] = 1
    create(c, body)
    # a pod with a bad hostPath type fails the same way; neither holds up other pods
    bad = pod_body("badhost", volumeMounts=[{"name": "h", "mountPath": "/h"}])
    bad["spec"]["volumes"] = [{"name": "h", "hostPath": {"path": "/nonexistent-k8c-volumes",
                                                          "type": "Directory"}}]
    bad["spec"]["terminationGracePeriodSeconds"] = 1
    create(c, bad)

    def failed_mount(name):
        return [e["message"] for e in c.events(name) if e["reason"] == "FailedMount"]
    msgs = wait_for(lambda: failed_mount("late"), timeout=30, what="FailedMount")
    assert 'MountVolume.SetUp failed for volume "cfg" : configmap "late-cm" not found' in msgs
    assert waiting(c, "late").get("reason") == "ContainerCreating"
    assert c.pod("late")["status"]["qosClass"] == "BestEffort"
    msgs = wait_for(lambda: failed_mount("badhost"), timeout=30, what="FailedMount")
    assert 'MountVolume.SetUp failed for volume "h" : hostPath type check failed: ' \
        '/nonexistent-k8c-volumes does not exist' in msgs
    c.kubectl("create", "configmap", "late-cm", "--from-literal=k=arrived")
    wait_for(lambda: running(c, "late"), timeout=30, what="late running")
    wait_for(lambda: c.kubectl("logs", "late", check=False).stdout == "arrived\n",
             what="late's log")
    c.kubectl("delete", "pod", "late", "badhost", "--wait=false")
    wait_for(lambda: c.pod("late") is None and c.pod("badhost") is None, timeout=30,
             what="late, badhost deleted")


def test_run_as_non_root_refused_and_burstable(cluster):
    c = cluster
    body = pod_body("nonroot", resources={"requests": {"cpu": "10m"}},
                    securityContext={"runAsNonRoot": True})
    create(c, body)
    w = wait_for(lambda: waiting(c, "nonroot").get("reason") == "CreateContainerConfigError" and
                 waiting(c, "nonroot"), timeout=30, what="CreateContainerConfigError")
    uid = c.pod("nonroot")["metadata"]["uid"]
    assert w["message"] == 'container has runAsNonRoot and image will run as root ' \
        f'(pod: "nonroot_default({uid})", container: main)', w
    assert c.pod("nonroot")["status"]["qosClass"] == "Burstable"
    c.kubectl("delete", "pod", "nonroot", "--wait=false")
    wait_for(lambda: c.pod("nonroot") is None, timeout=30, what="nonroot deleted")


def test_privileged_and_capabilities(cluster):
    c = cluster

    def ctr(name, sc):
        return {"name": name, "image": "example.org/busybox:1.0", "imagePullPolicy": "Never",
                "command": ["sh", "-c", "exec sleep 1000"], "securityContext": sc}
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "caps"},
            "spec": {"terminationGracePeriodSeconds": 1, "containers": [
                ctr("priv", {"privileged": True}),
                ctr("few", {"allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
                ctr("dflt", {})]}}
    create(c, body)
    wait_for(lambda: running(c, "caps"), timeout=60, what="caps running")
    started(c, "caps", ["priv", "few", "dflt"])

    def status(ctr_name):
        out = exec_out(c, "caps", "cat /proc/self/status", ctr=ctr_name)
        return dict(line.split(":\t", 1) for line in out.splitlines() if ":\t" in line)
    # "all" is what the agent itself may grant: its bounding set (same as this process's)
    with open("/proc/self/status") as f:
        all_caps = int([x for x in f if x.startswith("CapBnd:")][0].split()[1], 16)
    priv, few, dflt = status("priv"), status("few"), status("dflt")
    assert int(priv["CapEff"], 16) == all_caps and priv["Seccomp"].strip() == "0", priv
    assert int(few["CapEff"], 16) == 1 << 10 and few["NoNewPrivs"].strip() == "1", few
    # Docker's default set, the default seccomp profile, escalation allowed when unset
    assert int(dflt["CapEff"], 16) == 0xa80425fb and dflt["Seccomp"].strip() == "2", dflt
    assert dflt["NoNewPrivs"].strip() == "0"
    # privileged: /sys writable, host devices present; others get a read-only /sys
    assert " rw," in exec_out(c, "caps", "grep ' /sys ' /proc/mounts", ctr="priv")
    assert " ro," in exec_out(c, "caps", "grep ' /sys ' /proc/mounts", ctr="dflt")
    assert int(exec_out(c, "caps", "ls /dev | grep -c .", ctr="priv")) > \
        int(exec_out(c, "caps", "ls /dev | grep -c .", ctr="dflt"))
    c.kubectl("delete", "pod", "caps", "--wait=false")
    wait_for(lambda: c.pod("caps") is None, timeout=30, what="caps deleted")
