"""The agent's streaming endpoint end to end: runs tests/e2e/agent_stream_scenarios.py inside
private network, mount and PID namespaces (as test_agent.py runs agent_scenarios.py)."""
import pytest

from test_agent import run_scenarios_in_namespaces


@pytest.mark.parametrize("runtime", ["builtin", "runc"])
def test_agent_stream_scenarios(runtime):
    run_scenarios_in_namespaces("agent_stream_scenarios.py", runtime)
