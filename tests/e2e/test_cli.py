"""The command line contract: version, help, and one-line errors with exit status 2."""
import subprocess


def git_commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return "unknown"


def test_version_prints_version_commit_and_api(k8c):
    r = k8c("version")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("k8c version ")
    assert lines[1] == f"git commit: {git_commit()}"
    assert lines[2] == "kubernetes api: v1.32"


def test_help_lists_commands(k8c):
    r = k8c("--help")
    assert r.returncode == 0
    assert "usage: k8c <command>" in r.stdout
    assert "version" in r.stdout and "kubectl" in r.stdout


def test_no_command_is_usage_error(k8c):
    r = k8c()
    assert r.returncode == 2
    assert "usage: k8c" in r.stderr


def test_unknown_command_one_line_exit_2(k8c):
    r = k8c("frobnicate")
    assert r.returncode == 2
    assert r.stderr == "k8c: unknown command \"frobnicate\" (see 'k8c --help')\n"
    assert r.stdout == ""


def test_unknown_flag_one_line_exit_2(k8c):
    r = k8c("--frob")
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert "unknown flag \"--frob\"" in r.stderr


def test_version_rejects_arguments(k8c):
    r = k8c("version", "extra")
    assert r.returncode == 2
    assert "unexpected argument \"extra\"" in r.stderr


def test_kubectl_without_server_names_the_missing_kubeconfig(k8c, data_dir):
    r = k8c("kubectl", "--data-dir", data_dir, "get", "pods")
    assert r.returncode == 1
    assert f"{data_dir}/admin.kubeconfig" in r.stderr
    assert r.stderr.count("\n") == 1
