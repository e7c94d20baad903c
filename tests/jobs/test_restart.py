"""A server that dies while jobs run, and a new one on the same data.

Three jobs run when the first server is killed with SIGKILL (no chance to
clean up):

- survivor: runs about 6 s, logging to its run before and after, and
  writes a file at the end. It keeps running while no server is up; the
  new server re-adopts it and it must end SUCCEEDED with exit code 0, its
  run FINISHED.
- lost: killed (SIGKILL, its whole process group) while no server is up,
  so it records no exit code. It must end FAILED with a reason, not stay
  RUNNING forever and not vanish.
- ends-down: exits 7 on its own while no server is up. The exit code it
  recorded must be its job's (FAILED, exit code 7).

The new server listens on the same port, as a restarted server would, so
the survivor's mlflow calls still reach it.
"""

from __future__ import annotations

import os
import signal
import time

from mlflow.tracking import MlflowClient

from conftest import job_python, pid_alive, start_server, stop_process, wait_for

SURVIVOR = '''\
import os, time
import mlflow

out = os.environ["OUT"]
mlflow.log_metric("phase", 1, step=1)
with open(os.path.join(out, "survivor.pid"), "w") as f:
    f.write(f"{os.getpid()}\\n")
# About 6 s in all: the server is killed and restarted meanwhile.
time.sleep(5)
mlflow.log_metric("phase", 2, step=2)
with open(os.path.join(out, "survivor.done"), "w") as f:
    f.write("done\\n")
print("survivor finished", flush=True)
'''


def read_pid(path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


def job_group(pid: int) -> int:
    """The process group of a job's process: the group its replica's
    wrapper leads, which Lode kills as a whole. Never the test's own."""
    pgid = os.getpgid(pid)
    assert pgid not in (os.getpgrp(), os.getpid()), "a job must run in a process group of its own"
    return pgid


def test_restart_readopts_running_jobs(tmp_path):
    data, code, out = tmp_path / "data", tmp_path / "code", tmp_path / "out"
    code.mkdir()
    out.mkdir()
    (code / "survivor.py").write_text(SURVIVOR)
    first = start_server(data)
    second = None
    try:
        survivor = first.submit_cli("--name", "survivor", "--env", f"OUT={out}",
                                    "--env", "MLFLOW_DISABLE_TELEMETRY=true", "--",
                                    job_python(), "survivor.py", workdir=code)
        lost = first.submit_cli("--name", "lost", "--env", f"OUT={out}", "--",
                                'echo $$ > "$OUT/lost.pid"; exec sleep 60', workdir=code)
        ends_down = first.submit_cli("--name", "ends-down", "--env", f"OUT={out}", "--",
                                     'echo $$ > "$OUT/ends.pid"; i=0; '
                                     'while [ ! -e "$OUT/ends.go" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; '
                                     'echo ending; exit 7', workdir=code)
        pids = {name: wait_for(f"{name} to start", lambda: read_pid(out / f"{name}.pid"), 40)
                for name in ("survivor", "lost", "ends")}
        for j in (survivor, lost, ends_down):
            assert first.get_job(j["id"])["state"] == "RUNNING"
        groups = {name: job_group(pid) for name, pid in pids.items()}

        # The server dies without a word; its jobs do not.
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(timeout=10)
        assert all(pid_alive(p) for p in pids.values()), "jobs must outlive their server"

        # While it is down: lost is killed outright (no exit code is
        # recorded), ends-down exits 7 on its own.
        os.killpg(groups["lost"], signal.SIGKILL)
        (out / "ends.go").touch()
        for name in ("lost", "ends"):
            wait_for(f"{name}'s wrapper {groups[name]} to end", lambda: not pid_alive(groups[name]), 10)
        assert not (out / "survivor.done").exists(), "the survivor ended before the restart: the test is too slow"

        second = start_server(data, port=first.port)
        second.job_ids += [survivor["id"], lost["id"], ends_down["id"]]

        j = second.wait_end(lost["id"], timeout=15)
        assert j["state"] == "FAILED", j
        assert "lost" in j["reason"] and "restart" in j["reason"], j["reason"]
        assert j.get("exit_code") is None
        second.wait_run_status(j["run_id"], "FAILED")

        j = second.wait_end(ends_down["id"], timeout=15)
        assert j["state"] == "FAILED", j
        assert j["exit_code"] == 7 and j["reason"] == "exit code 7", j
        second.wait_run_status(j["run_id"], "FAILED")
        assert second.lode("logs", ends_down["id"]).stdout == "ending\n"

        # The survivor was re-adopted: RUNNING until it ends on its own, its
        # log followed by the new server to the end.
        assert second.get_job(survivor["id"])["state"] == "RUNNING"
        followed = second.lode("logs", "-f", survivor["id"], timeout=30)
        assert followed.returncode == 0 and "survivor finished" in followed.stdout, str(followed)
        j = second.wait_end(survivor["id"], timeout=30)
        assert j["state"] == "SUCCEEDED", f"{j}\n--- server log\n{second.log()[-4000:]}"
        assert j["exit_code"] == 0 and j["attempt"] == 1
        assert (out / "survivor.done").read_text() == "done\n"
        second.wait_run_status(j["run_id"], "FINISHED")
        client = MlflowClient(tracking_uri=second.url)
        phases = [(m.step, m.value) for m in client.get_metric_history(j["run_id"], "phase")]
        assert phases == [(1, 1.0), (2, 2.0)], "the survivor logged to its run before and after the restart"

        # None is forgotten: the new server lists all three, none running.
        listed = {x["id"]: x["state"] for x in second.lode("list", "--json").json()["jobs"]}
        assert listed == {survivor["id"]: "SUCCEEDED", lost["id"]: "FAILED", ends_down["id"]: "FAILED"}
        assert not any(pid_alive(p) for p in pids.values())
    finally:
        for s in (second, first):
            if s is not None:
                s.cleanup_jobs()
                stop_process(s.proc)
        # Whatever a failed run of this test left running.
        for name in ("survivor", "lost", "ends"):
            pid = read_pid(out / f"{name}.pid")
            if pid and pid_alive(pid):
                try:
                    os.killpg(job_group(pid), signal.SIGKILL)
                except (ProcessLookupError, AssertionError):
                    pass
