"""Probes, lifecycle hooks, graceful termination, termination messages and OOMKilled, end to
end: runs tests/e2e/agent_probe_scenarios.py (server, scheduler, agent, real kubectl) inside
private network, mount and PID namespaces, like test_agent.py, with each runtime."""
import importlib.util
import shutil

import pytest

from test_agent import run_scenarios_in_namespaces


@pytest.mark.parametrize("runtime", ["builtin", "runc", "crun"])
def test_agent_probe_scenarios_in_private_namespaces(runtime, monkeypatch):
    if not shutil.which("openssl") or not shutil.which("nsenter"):
        pytest.skip("openssl and nsenter are needed (the HTTPS probe's server)")
    # grpc probes are checked against a python3-grpcio server when it is installed (it is in
    # scripts/deps.sh); without it the HTTPS probe alone is
    monkeypatch.setenv("K8C_PROBE_GRPC", "1" if importlib.util.find_spec("grpc") else "0")
    run_scenarios_in_namespaces("agent_probe_scenarios.py", runtime)
