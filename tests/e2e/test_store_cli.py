"""`k8c store get|ls|compact|check`: the operator's view of the store file, and its errors."""
import os

from test_store_crash import run_until_killed


def test_store_verbs_on_a_written_store(k8c, data_dir):
    _, acks = run_until_killed(data_dir, 50)
    last = {}
    for line in acks:
        _, op, key, rev, _ = line.split()
        last[key] = (op, int(rev))

    r = k8c("store", "ls", "--data-dir", data_dir, "/stress/")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["CREATE_REVISION", "MOD_REVISION", "BYTES", "KEY"]
    listed = {row.split()[3]: int(row.split()[1]) for row in rows[1:]}
    assert listed
    # A key's listed mod_revision is its last acknowledged one or newer: the driver may have
    # committed more (even a delete) before it was killed, without printing it.
    for key, (op, rev) in last.items():
        if key in listed:
            assert listed[key] >= rev if op != "d" else listed[key] > rev
    assert "keys at revision" in r.stderr

    r = k8c("store", "ls", "--data-dir", data_dir, "--limit", "2")
    assert r.returncode == 0
    assert len(r.stdout.splitlines()) == 3

    key = next(iter(listed))
    r = k8c("store", "get", "--data-dir", data_dir, key)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) > 1

    r = k8c("store", "get", "--data-dir", data_dir, "/no/such/key")
    assert r.returncode == 1
    assert r.stderr == "k8c: store: key `/no/such/key` not found\n"

    r = k8c("store", "check", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert "is ok: revision" in r.stdout

    # The past, as of the first acknowledged write.
    _, op, first_key, first_rev, _ = next(a.split() for a in acks if a.split()[1] != "d")
    r = k8c("store", "ls", "--data-dir", data_dir, "--revision", first_rev, first_key)
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[1].split()
    assert row[1] == first_rev and row[3] == first_key
    assert f"at revision {first_rev}" in r.stderr

    r = k8c("store", "compact", "--data-dir", data_dir)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("compacted at revision ")
    r = k8c("store", "ls", "--data-dir", data_dir, "--revision", "1")
    assert r.returncode == 1
    assert "has been compacted" in r.stderr
    r = k8c("store", "check", "--data-dir", data_dir)
    assert "compacted at" in r.stdout and "compacted at 0," not in r.stdout


def test_store_usage_and_failures(k8c, data_dir):
    r = k8c("store")
    assert r.returncode == 2 and len(r.stderr.splitlines()) == 1
    r = k8c("store", "frob")
    assert r.returncode == 2
    assert r.stderr == "k8c: store: unknown command \"frob\" (see 'k8c store --help')\n"
    r = k8c("store", "ls", "--bogus")
    assert r.returncode == 2 and "unknown flag" in r.stderr
    r = k8c("store", "ls", "--limit", "x", "--data-dir", data_dir)
    assert r.returncode == 2 and "--limit" in r.stderr
    r = k8c("store", "--help")
    assert r.returncode == 0 and "db/state.db" in r.stdout

    r = k8c("store", "check", "--data-dir", data_dir)
    assert r.returncode == 1
    assert "no store at" in r.stderr and len(r.stderr.splitlines()) == 1

    os.makedirs(os.path.join(data_dir, "db"))
    path = os.path.join(data_dir, "db", "state.db")
    with open(path, "wb") as f:
        f.write(os.urandom(8192))
    for verb in ("check", "ls"):
        r = k8c("store", verb, "--data-dir", data_dir)
        assert r.returncode == 1
        assert path in r.stderr and "corrupt" in r.stderr
        assert len(r.stderr.splitlines()) == 1
    r = k8c("store", "compact", "--data-dir", data_dir)
    assert r.returncode == 1 and "corrupt" in r.stderr
    assert os.path.getsize(path) == 8192, "a corrupt file is never replaced"
