"""Cluster DNS end to end: runs tests/e2e/dns_scenarios.py (server, agent with its DNS server,
real resolver clients) inside private network, mount and PID namespaces, so port 53, the
nftables redirect and every process die with them."""
import os
import shutil
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))


def test_dns_scenarios_in_private_namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, nftables)")
    if not os.path.exists("/bin/busybox") or not shutil.which("getent"):
        pytest.skip("/bin/busybox (busybox-static) and getent are needed")
    env = dict(os.environ, K8C_DNS_INNER="1")
    cmd = ["unshare", "--net", "--mount", "--pid", "--fork", "--mount-proc",
           "--propagation", "private", sys.executable, "-m", "pytest", "-q", "-x",
           "-p", "no:cacheprovider", os.path.join(HERE, "dns_scenarios.py")]
    r = subprocess.run(cmd, cwd=HERE, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-12000:] + r.stderr[-4000:]
    assert " passed" in r.stdout and "skipped" not in r.stdout, r.stdout[-4000:]


@pytest.mark.parametrize("args,msg", [
    (["--cluster-dns", "10.96.0"], "--cluster-dns wants an IPv4 address"),
    (["--dns-listen", "nowhere"], "--dns-listen wants IP or IP:PORT"),
])
def test_agent_dns_flag_errors(k8c, args, msg):
    r = k8c("agent", "--kubeconfig", "k", *args)
    assert r.returncode == 2 and msg in r.stderr and r.stderr.count("\n") == 1, r.stderr
