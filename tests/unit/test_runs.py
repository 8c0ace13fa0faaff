"""The run folder contract as readers see it."""

from __future__ import annotations

import json
import os
import time

import pytest

from bertviz_lib import runs


def test_a_new_run_is_queued_and_listed(tmp_path):
    path = runs.create_run(tmp_path, "my first run!")
    assert path.parent == tmp_path
    assert path.name.endswith("my-first-run")
    run = runs.load_run(path.name, tmp_path)
    assert run.state == "queued"
    assert [r.run_id for r in runs.list_runs(tmp_path)] == [path.name]


def test_running_with_a_live_heartbeat_stays_running(tmp_path):
    writer = runs.RunWriter(runs.create_run(tmp_path))
    writer.set_status("running")
    assert runs.Run(writer.path).state == "running"


def running_run_with(tmp_path, **fields) -> runs.Run:
    """A `running` run whose status.json is then edited, as a dead process would leave it."""
    writer = runs.RunWriter(runs.create_run(tmp_path))
    writer.set_status("running")
    status_file = writer.path / "status.json"
    status_file.write_text(json.dumps({**json.loads(status_file.read_text()), **fields}))
    return runs.Run(writer.path)


def test_running_with_a_stale_heartbeat_reads_interrupted(tmp_path):
    stale = time.time() - runs.STALE_AFTER_SECONDS - 1
    assert running_run_with(tmp_path, heartbeat=stale).state == "interrupted"


def test_running_whose_process_is_gone_reads_interrupted(tmp_path):
    no_such_pid = 2**22 + 12345  # above the kernel's default pid_max
    assert running_run_with(tmp_path, pid=no_such_pid).state == "interrupted"


def test_the_heartbeat_thread_refreshes_the_status(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.store, "HEARTBEAT_SECONDS", 0.05)
    writer = runs.RunWriter(runs.create_run(tmp_path))
    writer.set_status("running")
    first = runs.Run(writer.path).status["heartbeat"]
    writer.start_heartbeat()
    time.sleep(0.3)
    writer.stop_heartbeat()
    assert runs.Run(writer.path).status["heartbeat"] > first


@pytest.mark.parametrize("bad", ["../escape", "/etc", "a/b", "..", "", ".hidden", "x" * 200])
def test_run_ids_cannot_leave_the_run_folder(tmp_path, bad):
    with pytest.raises(runs.RunError):
        runs.load_run(bad, tmp_path / "models")


def test_a_missing_run_says_so(tmp_path):
    with pytest.raises(runs.RunError, match="There is no run"):
        runs.load_run("20200101-000000-nothing", tmp_path)


def test_a_failed_save_leaves_no_model_folder(tmp_path):
    writer = runs.RunWriter(runs.create_run(tmp_path))

    def broken_save(folder):
        (folder / "config.json").write_text("{}")
        raise OSError("disk full")

    with pytest.raises(OSError):
        writer.save_model(broken_save)
    assert not (writer.path / "model").exists()


def test_delete_refuses_a_live_run_and_removes_a_finished_one(tmp_path):
    writer = runs.RunWriter(runs.create_run(tmp_path))
    writer.set_status("running")
    with pytest.raises(runs.RunError, match="still training"):
        runs.delete_run(writer.path.name, tmp_path)
    writer.set_status("completed")
    runs.delete_run(writer.path.name, tmp_path)
    assert not writer.path.exists()
    assert os.listdir(tmp_path) == []


def test_symbolic_links_are_never_followed_to_a_run(tmp_path):
    root = tmp_path / "models"
    outside = runs.create_run(tmp_path / "elsewhere", "secret")
    (root).mkdir()
    (root / "20200101-000000-link").symlink_to(outside, target_is_directory=True)
    assert runs.list_runs(root) == []  # the link is not listed
    with pytest.raises(runs.RunError, match="symbolic link"):
        runs.load_run("20200101-000000-link", root)
    with pytest.raises(runs.RunError, match="symbolic link"):
        runs.delete_run(root / "20200101-000000-link", root)
    assert outside.is_dir() and (outside / "status.json").is_file()  # nothing was deleted
