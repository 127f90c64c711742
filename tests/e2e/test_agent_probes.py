"""Probes, lifecycle hooks, graceful termination, termination messages and OOMKilled, end to
end: runs tests/e2e/agent_probe_scenarios.py (server, scheduler, agent, real kubectl) inside
private network, mount and PID namespaces, like test_agent.py, with each runtime."""
import pytest

from test_agent import run_scenarios_in_namespaces


@pytest.mark.parametrize("runtime", ["builtin", "runc", "crun"])
def test_agent_probe_scenarios_in_private_namespaces(runtime):
    run_scenarios_in_namespaces("agent_probe_scenarios.py", runtime)
