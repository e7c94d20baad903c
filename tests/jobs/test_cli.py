"""`lode job` end to end: the real CLI as a subprocess against a real
`lode server`, with REST where the CLI has no word for it, and the mlflow
client to look at the jobs' runs.

Jobs are shell command lines (the server runs them under /bin/sh -c) or,
where they use mlflow, a script run by this suite's interpreter, whose venv
has mlflow. What a job leaves for the test goes to a folder outside its
code snapshot, named by --env OUT=...
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import FINAL_STATES, SERVER_ONLY_VAR, LineReader, cpu_count, job_python, pid_alive, stop_process, wait_for


def submitted_id(stderr: str) -> str:
    m = re.search(r"lode: submitted job ([0-9a-f]+)", stderr)
    assert m, f"submit -f did not name the job on stderr:\n{stderr}"
    return m.group(1)


def log_artifact(server, run_id: str, attempt: int = 1, rank: int = 0) -> str:
    """The job's log as stored on its run."""
    client = MlflowClient(tracking_uri=server.url)
    path = f"lode-logs/attempt-{attempt}/rank-{rank}.log"
    names = {a.path for a in client.list_artifacts(run_id, f"lode-logs/attempt-{attempt}")}
    assert path in names, f"run {run_id} has no {path}: {names}"
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        local = client.download_artifacts(run_id, path, d)
        with open(local, errors="replace") as f:
            return f.read()


@pytest.mark.parametrize("command, code, state, run_status", [
    ("echo to-stdout; echo to-stderr >&2; exit 0", 0, "SUCCEEDED", "FINISHED"),
    ("echo to-stdout; echo to-stderr >&2; exit 3", 3, "FAILED", "FAILED"),
    # A job killed by a signal exits as the shells say: 128 + 9.
    ("echo to-stdout; echo to-stderr >&2; kill -KILL $$", 137, "FAILED", "FAILED"),
])
def test_submit_follow_exits_with_the_jobs_code(lode_server, workdir, command, code, state, run_status):
    t0 = time.monotonic()
    res = lode_server.lode("submit", "-f", "--", command, cwd=workdir, timeout=30)
    job_id = submitted_id(res.stderr)
    lode_server.job_ids.append(job_id)
    assert res.returncode == code, str(res)
    assert time.monotonic() - t0 < 15
    # The log as written, stdout and stderr together, and nothing else but
    # the note the job's wrapper shell writes when the command was killed
    # ("Killed" from dash; other shells word it differently).
    expected = "to-stdout\nto-stderr\n"
    assert res.stdout.startswith(expected), str(res)
    rest = res.stdout[len(expected):]
    assert rest == "" if code != 137 else re.fullmatch(r"(.*Killed.*\n)?", rest), str(res)
    assert f"job {job_id} {state}" in res.stderr, str(res)

    job = lode_server.get_job(job_id)
    assert job["state"] == state
    assert job["exit_code"] == code
    assert job["reason"] == ("all replicas exited 0" if code == 0 else f"exit code {code}")
    assert [h["state"] for h in job["history"]] == ["QUEUED", "SCHEDULED", "RUNNING", state]
    lode_server.wait_run_status(job["run_id"], run_status)
    assert log_artifact(lode_server, job["run_id"]) == res.stdout


def test_json_outputs(lode_server, workdir):
    job = lode_server.submit_cli("--name", "json-check", "--cpus", "0.25", "--memory", "64Mi", "--priority", "3",
                                 "--queue", "team-a", "--env", "GREETING=hello world", "--",
                                 "sh", "-c", 'echo "$GREETING"', workdir=workdir)
    assert re.fullmatch(r"[0-9a-f]{32}", job["id"]), job
    assert job["state"] in {"QUEUED", "SCHEDULED", "RUNNING"} | FINAL_STATES
    assert job["run_id"]
    spec = job["spec"]
    # Several words are quoted one by one, so each reaches sh as it was.
    assert spec["command"] == "sh -c 'echo \"$GREETING\"'"
    assert spec["name"] == "json-check" and spec["queue"] == "team-a" and spec["priority"] == 3
    assert spec["resources"] == {"milli_cpu": 250, "memory_bytes": 64 << 20, "gpus": 0}
    assert spec["env"] == {"GREETING": "hello world"}
    # The server runs a snapshot of the working directory, not the directory.
    assert spec["work_dir"] != str(workdir) and spec["work_dir"].endswith("/code")
    lode_server.wait_end(job["id"])

    shown = lode_server.lode("show", "--json", job["id"])
    assert shown.returncode == 0, str(shown)
    j = shown.json()["job"]
    assert j["id"] == job["id"] and j["state"] == "SUCCEEDED" and j["exit_code"] == 0 and j["attempt"] == 1
    assert [h["state"] for h in j["history"]] == ["QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"]
    assert all(isinstance(h["timestamp_ms"], int) for h in j["history"])

    listed = lode_server.lode("list", "--json")
    assert listed.returncode == 0, str(listed)
    jobs = listed.json()["jobs"]
    assert job["id"] in [x["id"] for x in jobs]
    assert [x["submitted_ms"] for x in jobs] == sorted((x["submitted_ms"] for x in jobs), reverse=True), "newest first"
    only = lode_server.lode("list", "--json", "--state", "succeeded", "--queue", "team-a").json()["jobs"]
    assert [x["id"] for x in only] == [job["id"]]
    assert lode_server.lode("list", "--json", "--state", "FAILED", "--queue", "team-a").json() == {"jobs": []}

    logs = lode_server.lode("logs", "--json", job["id"])
    assert logs.returncode == 0, str(logs)
    assert logs.json() == {"id": job["id"], "attempt": 0, "rank": 0, "log": "hello world\n"}

    # The readable forms carry the same facts.
    text = lode_server.lode("show", job["id"]).stdout
    assert re.search(r"State:\s+SUCCEEDED", text) and "team-a" in text and "GREETING=hello world" in text, text
    table = lode_server.lode("list", "--queue", "team-a").stdout
    assert job["id"] in table and "SUCCEEDED" in table, table

    # An unknown job is an error with the server's message, and no JSON.
    missing = lode_server.lode("show", "--json", "0" * 32)
    assert missing.returncode != 0 and missing.stdout == ""
    assert "RESOURCE_DOES_NOT_EXIST" in missing.stderr, str(missing)


def test_job_environment_and_snapshot(lode_server, workdir, outdir):
    (workdir / "msg.txt").write_text("as submitted\n")
    (workdir / ".git").mkdir()
    (workdir / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (workdir / "link.txt").symlink_to(workdir / "msg.txt")
    # The job waits for the go-ahead, then shows what it got.
    cmd = ('i=0; while [ ! -e "$OUT/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; '
           'cat msg.txt; ls -A; env > "$OUT/env"')
    job = lode_server.submit_cli("--env", f"OUT={outdir}", "--env", "EXTRA=x y", "--", cmd, workdir=workdir)
    lode_server.wait_state(job["id"], "RUNNING")
    # An edit after submission does not reach the job: it runs a snapshot.
    (workdir / "msg.txt").write_text("edited later\n")
    (outdir / "go").touch()
    assert lode_server.wait_end(job["id"])["state"] == "SUCCEEDED"
    log = lode_server.lode("logs", job["id"]).stdout
    # The snapshot leaves .git and symlinks out.
    assert log == "as submitted\nmsg.txt\n", log

    env = dict(line.split("=", 1) for line in (outdir / "env").read_text().splitlines() if "=" in line)
    assert env["MLFLOW_TRACKING_URI"] == lode_server.url
    assert env["MLFLOW_RUN_ID"] == job["run_id"]
    assert env["MLFLOW_EXPERIMENT_ID"] == "0"
    assert env["LODE_JOB_ID"] == job["id"] and env["LODE_JOB_ATTEMPT"] == "1"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert env["EXTRA"] == "x y"
    assert env["PATH"]
    assert SERVER_ONLY_VAR not in env, "a job must not inherit the server's environment"
    # One replica: nothing distributed.
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TF_CONFIG", "LODE_HOSTFILE"):
        assert k not in env, k


def test_logs_follow_a_running_job(lode_server, workdir, outdir):
    # The job writes a line, waits for the test's go-ahead, then writes
    # more: the first line must reach `logs -f` while the job still runs.
    cmd = ('echo line-1; i=0; while [ ! -e "$OUT/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; '
           'echo line-2; sleep 0.3; echo line-3 >&2')
    job = lode_server.submit_cli("--env", f"OUT={outdir}", "--", cmd, workdir=workdir)
    lode_server.wait_state(job["id"], "RUNNING")
    follower = lode_server.lode_popen("logs", "-f", job["id"])
    try:
        lines = LineReader(follower.stdout)
        assert lines.next(timeout=15) == "line-1\n"
        assert lode_server.get_job(job["id"])["state"] == "RUNNING"
        assert follower.poll() is None, "logs -f should follow until the job ends"
        # While it runs, its run is RUNNING.
        assert lode_server.run_status(job["run_id"]) == "RUNNING"
        (outdir / "go").touch()
        assert lines.rest(timeout=15) == "line-2\nline-3\n"
        assert follower.wait(timeout=15) == 0
    finally:
        stop_process(follower)
    assert lode_server.wait_end(job["id"])["state"] == "SUCCEEDED"
    # Following from the start of an ended job prints all of it at once.
    again = lode_server.lode("logs", "-f", job["id"], timeout=15)
    assert again.returncode == 0 and again.stdout == "line-1\nline-2\nline-3\n", str(again)


# A job whose command shell starts a subshell that starts `sleep`: the sleep
# is the wrapper's great-grandchild. Each writes its pid for the test.
TREE_CMD = ('sh -c \'sleep 300 & echo $! > "$OUT/sleep.pid"; wait\' & echo $! > "$OUT/sub.pid"; '
            'echo $$ > "$OUT/shell.pid"; wait')


def read_pid(path) -> int | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return int(text) if text.endswith("\n") else None


def test_cancel_kills_the_process_tree(lode_server, workdir, outdir):
    job = lode_server.submit_cli("--env", f"OUT={outdir}", "--", TREE_CMD, workdir=workdir)
    pids = wait_for("the job's processes to write their pids",
                    lambda: all(read_pid(outdir / f) for f in ("sleep.pid", "sub.pid", "shell.pid"))
                    and {f: read_pid(outdir / f) for f in ("sleep.pid", "sub.pid", "shell.pid")}, 15)
    assert all(pid_alive(p) for p in pids.values()), pids
    assert lode_server.get_job(job["id"])["state"] == "RUNNING"

    t0 = time.monotonic()
    res = lode_server.lode("cancel", job["id"])
    assert res.returncode == 0, str(res)
    assert f"job {job['id']}" in res.stdout, str(res)
    ended = lode_server.wait_end(job["id"], timeout=20)
    assert ended["state"] == "CANCELLED", ended
    assert ended["reason"] == "cancelled"
    # SIGTERM ends these at once; the 10 s SIGKILL grace is not needed.
    assert time.monotonic() - t0 < 8
    for name, pid in pids.items():
        wait_for(f"{name} {pid} to be gone", lambda: not pid_alive(pid), 5)
    lode_server.wait_run_status(ended["run_id"], "KILLED")

    # Cancelling again is refused: the job has ended.
    again = lode_server.lode("cancel", job["id"])
    assert again.returncode != 0 and "already ended" in again.stderr, str(again)


@pytest.fixture(scope="module")
def stubborn_cancel(server, tmp_path_factory):
    """Cancels a job whose grandchild ignores SIGTERM (an ignored signal
    stays ignored across exec), so that only the SIGKILL after the 10 s
    grace ends it, and notes what happened when: two tests read it, as the
    grace period is worth waiting for only once."""
    workdir, outdir = tmp_path_factory.mktemp("stubborn-code"), tmp_path_factory.mktemp("stubborn-out")
    cmd = 'sh -c \'trap "" TERM; sleep 300 & echo $! > "$OUT/sleep.pid"; wait\' & wait'
    job = server.submit_cli("--env", f"OUT={outdir}", "--", cmd, workdir=workdir)
    pid = wait_for("the sleep's pid", lambda: read_pid(outdir / "sleep.pid"), 15)
    assert pid_alive(pid)
    t0 = time.monotonic()
    assert server.lode("cancel", job["id"]).returncode == 0
    ended = server.wait_end(job["id"], timeout=30)
    alive_when_cancelled = pid_alive(pid)
    gone = wait_for(f"sleep {pid} to be gone", lambda: not pid_alive(pid) and time.monotonic(), 25)
    return {"job": ended, "alive_when_cancelled": alive_when_cancelled, "gone_after_s": gone - t0}


def test_cancel_sigkills_what_ignores_sigterm(stubborn_cancel):
    assert stubborn_cancel["job"]["state"] == "CANCELLED", stubborn_cancel
    # SIGKILL after the 10 s grace (docs/jobs.md), with a margin.
    assert 9 <= stubborn_cancel["gone_after_s"] < 20, stubborn_cancel


def test_cancelled_only_once_its_processes_are_gone(stubborn_cancel):
    assert stubborn_cancel["job"]["state"] == "CANCELLED"
    assert not stubborn_cancel["alive_when_cancelled"], \
        "the job was CANCELLED while a process of its tree still ran"


def test_background_processes_end_with_the_job(lode_server, workdir, outdir):
    res = lode_server.lode("submit", "-f", "--env", f"OUT={outdir}", "--",
                           'sleep 300 >/dev/null 2>&1 & echo $! > "$OUT/bg.pid"; echo done', cwd=workdir, timeout=30)
    assert res.returncode == 0, str(res)
    pid = read_pid(outdir / "bg.pid")
    assert pid
    try:
        assert lode_server.get_job(submitted_id(res.stderr))["state"] == "SUCCEEDED"
        wait_for(f"the job's background sleep {pid} to end with it", lambda: not pid_alive(pid), 3)
    finally:
        # The suite leaves nothing running, whatever Lode does.
        if pid_alive(pid) and "sleep" in Path(f"/proc/{pid}/cmdline").read_text():
            os.kill(pid, signal.SIGKILL)


def test_timeout_fails_the_job_with_a_reason(lode_server, workdir):
    t0 = time.monotonic()
    res = lode_server.lode("submit", "-f", "--timeout", "1s", "--", "echo started; sleep 30", cwd=workdir, timeout=30)
    job_id = submitted_id(res.stderr)
    lode_server.job_ids.append(job_id)
    # Killed by SIGTERM: 128 + 15.
    assert res.returncode == 143, str(res)
    assert time.monotonic() - t0 < 12
    # The job's wrapper shell may note the signal in the log ("Terminated").
    assert re.fullmatch(r"started\n(.*Terminated.*\n)?", res.stdout), str(res)
    job = lode_server.get_job(job_id)
    assert job["state"] == "FAILED" and job["exit_code"] == 143
    assert job["reason"] == "timed out after 1s", job
    assert "timed out after 1s" in res.stderr
    lode_server.wait_run_status(job["run_id"], "FAILED")


def test_retries_until_success(lode_server, workdir, outdir):
    # A file counter: the first attempt fails, the second succeeds.
    cmd = ('n=$(( $(cat "$OUT/count" 2>/dev/null || echo 0) + 1 )); echo $n > "$OUT/count"; '
           'echo "run $n attempt $LODE_JOB_ATTEMPT"; [ $n -ge 2 ] || exit 5')
    t0 = time.monotonic()
    res = lode_server.lode("submit", "-f", "--retries", "2", "--env", f"OUT={outdir}", "--", cmd,
                           cwd=workdir, timeout=30)
    job_id = submitted_id(res.stderr)
    lode_server.job_ids.append(job_id)
    assert res.returncode == 0, str(res)
    assert time.monotonic() - t0 < 15
    # -f follows the job into its retry.
    assert res.stdout == "run 1 attempt 1\nrun 2 attempt 2\n", str(res)
    assert (outdir / "count").read_text() == "2\n"

    job = lode_server.get_job(job_id)
    assert job["state"] == "SUCCEEDED" and job["attempt"] == 2 and job["exit_code"] == 0
    states = [h["state"] for h in job["history"]]
    assert states == ["QUEUED", "SCHEDULED", "RUNNING", "QUEUED", "SCHEDULED", "RUNNING", "SUCCEEDED"], job["history"]
    assert re.match(r"attempt 1 failed \(exit code 5\); retry 1 of 2 in 1s", job["history"][3]["reason"]), job["history"]
    # The retry waited for its backoff (1 s).
    assert job["history"][4]["timestamp_ms"] - job["history"][3]["timestamp_ms"] >= 900

    assert lode_server.lode("logs", "--attempt", "1", job_id).stdout == "run 1 attempt 1\n"
    assert lode_server.lode("logs", job_id).stdout == "run 2 attempt 2\n"
    lode_server.wait_run_status(job["run_id"], "FINISHED")
    assert log_artifact(lode_server, job["run_id"], attempt=1) == "run 1 attempt 1\n"
    assert log_artifact(lode_server, job["run_id"], attempt=2) == "run 2 attempt 2\n"


def test_retries_exhausted(lode_server, workdir):
    res = lode_server.lode("submit", "-f", "--retries", "1", "--", "echo try; exit 4", cwd=workdir, timeout=30)
    job_id = submitted_id(res.stderr)
    lode_server.job_ids.append(job_id)
    assert res.returncode == 4, str(res)
    assert res.stdout == "try\ntry\n"
    job = lode_server.get_job(job_id)
    assert job["state"] == "FAILED" and job["attempt"] == 2 and job["reason"] == "exit code 4"


@pytest.fixture(scope="module")
def rank_failure(server, tmp_path_factory):
    """A distributed job whose rank 1 fails at once (exit 3) while rank 0
    would sleep a minute, run to its end; two tests read it."""
    workdir, outdir = tmp_path_factory.mktemp("rankfail-code"), tmp_path_factory.mktemp("rankfail-out")
    cmd = 'echo "rank $RANK of $WORLD_SIZE"; echo $$ > "$OUT/rank-$RANK.pid"; [ "$RANK" = 1 ] && exit 3; exec sleep 60'
    t0 = time.monotonic()
    job = server.submit_cli("--replicas", "2", "--env", f"OUT={outdir}", "--", cmd, workdir=workdir)
    ended = server.wait_end(job["id"], timeout=20)
    return {"job": ended, "took_s": time.monotonic() - t0, "out": outdir}


def test_a_failing_replica_stops_the_others(lode_server, rank_failure):
    # A distributed job cannot go on without a rank: rank 0 is stopped and
    # the job fails, long before rank 0's minute is up.
    ended = rank_failure["job"]
    assert ended["state"] == "FAILED", ended
    assert rank_failure["took_s"] < 10
    pid0 = read_pid(rank_failure["out"] / "rank-0.pid")
    assert pid0, "rank 0 started too: all replicas start together"
    wait_for(f"rank 0 ({pid0}) to be stopped", lambda: not pid_alive(pid0), 5)
    for rank in (0, 1):
        log = lode_server.lode("logs", "--rank", str(rank), ended["id"]).stdout
        assert log.startswith(f"rank {rank} of 2\n"), log
    lode_server.wait_run_status(ended["run_id"], "FAILED")


def test_a_failing_replica_gives_the_job_its_exit_code(rank_failure):
    ended = rank_failure["job"]
    assert ended["exit_code"] == 3, ended
    assert "3" in ended["reason"], ended["reason"]


def test_a_job_bigger_than_the_machine_is_refused(lode_server, workdir):
    n = cpu_count()
    before = {j["id"] for j in lode_server.lode("list", "--json", "--max-results", "0").json()["jobs"]}
    cases = [
        (["--cpus", str(n + 1)], rf"needs {n + 1} cores per replica but the largest node has {n} cores?"),
        (["--memory", "1000Ti"], r"needs .* of memory per replica but the largest node has"),
        (["--gpus", "1000"], r"needs 1000 GPUs per replica but the largest node has \d+"),
        # Each replica fits, all of them together do not.
        (["--cpus", "1", "--replicas", str(n + 1)], rf"needs {n + 1} replicas of 1 core"),
    ]
    for flags, want in cases:
        res = lode_server.lode("submit", *flags, "--", "echo never", cwd=workdir)
        assert res.returncode != 0, f"{flags}: {res}"
        assert res.stdout == ""
        assert "job can never run here" in res.stderr and re.search(want, res.stderr), f"{flags}: {res}"
    # Refused at submission: no job (and no run) was made.
    after = {j["id"] for j in lode_server.lode("list", "--json", "--max-results", "0").json()["jobs"]}
    assert after == before

    # REST answers MLflow's error format with 400.
    r = lode_server.api("POST", "submit", json={"command": "true", "resources": {"milli_cpu": (n + 1) * 1000}})
    assert r.status_code == 400, r.text
    assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "can never run here" in r.json()["message"]


MLFLOW_JOB = '''\
import os, sys, time
import mlflow

out = os.environ["OUT"]
# Read before the first mlflow call: mlflow takes the variable out of the
# environment when it resumes the run.
injected = os.environ.get("MLFLOW_RUN_ID", "")
mlflow.log_param("alpha", "0.4")
mlflow.log_metric("loss", 0.5, step=0)
mlflow.log_metric("loss", 0.25, step=1)
with open(os.path.join(out, "run_id"), "w") as f:
    f.write(injected + " " + mlflow.active_run().info.run_id + "\\n")
# Wait for the test to have looked at the run while the job runs.
for _ in range(300):
    if os.path.exists(os.path.join(out, "go")):
        break
    time.sleep(0.1)
print("logged to", mlflow.active_run().info.run_id, flush=True)
sys.exit(int(os.environ.get("EXIT_CODE", "0")))
'''


@pytest.mark.parametrize("exit_code, run_status", [(0, "FINISHED"), (2, "FAILED")])
def test_mlflow_logging_lands_in_the_jobs_run(lode_server, workdir, outdir, exit_code, run_status):
    (workdir / "train.py").write_text(MLFLOW_JOB)
    job = lode_server.submit_cli("--env", f"OUT={outdir}", "--env", f"EXIT_CODE={exit_code}",
                                 "--env", "MLFLOW_DISABLE_TELEMETRY=true", "--", job_python(), "train.py",
                                 workdir=workdir)
    run_id = job["run_id"]
    assert run_id
    got = wait_for("the job to write MLFLOW_RUN_ID", lambda: (outdir / "run_id").exists()
                   and (outdir / "run_id").read_text().endswith("\n") and (outdir / "run_id").read_text(), 40)
    # Injected, and the run mlflow resumed from it.
    assert got.split() == [run_id, run_id]

    client = MlflowClient(tracking_uri=lode_server.url)
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING"
    assert run.data.params == {"alpha": "0.4"}
    assert run.data.metrics["loss"] == 0.25
    assert [(m.step, m.value) for m in client.get_metric_history(run_id, "loss")] == [(0, 0.5), (1, 0.25)]
    assert run.data.tags["lode.job.id"] == job["id"]
    assert run.data.tags["mlflow.source.type"] == "JOB"
    assert run.info.experiment_id == "0"

    (outdir / "go").touch()
    ended = lode_server.wait_end(job["id"], timeout=30)
    assert ended["state"] == ("SUCCEEDED" if exit_code == 0 else "FAILED"), ended
    assert ended["exit_code"] == exit_code
    lode_server.wait_run_status(run_id, run_status)
    run = client.get_run(run_id)
    assert run.info.end_time and run.info.end_time >= run.info.start_time
    assert f"logged to {run_id}" in log_artifact(lode_server, run_id)


def test_cancel_a_queued_job_over_rest(lode_server, workdir, outdir):
    # One job holds every core, so the next one that asks for a core queues.
    n = cpu_count()
    hold = lode_server.submit(command='i=0; while [ ! -e "$OUT/go" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done',
                              env={"OUT": str(outdir)}, work_dir=str(workdir),
                              resources={"milli_cpu": n * 1000}, name="hold")
    lode_server.wait_state(hold["id"], "RUNNING")
    queued = lode_server.submit(command="echo ran", work_dir=str(workdir), resources={"milli_cpu": 1000},
                                name="waits")
    time.sleep(1.5)  # more than a scheduling tick: it stays queued
    j = lode_server.get_job(queued["id"])
    assert j["state"] == "QUEUED", j
    # Its log does not exist yet: INVALID_STATE, 409.
    r = lode_server.api("GET", "logs", params={"id": queued["id"]})
    assert r.status_code == 409 and r.json()["error_code"] == "INVALID_STATE", r.text

    r = lode_server.api("POST", "cancel", json={"id": queued["id"]})
    assert r.status_code == 200, r.text
    assert r.json()["job"]["state"] == "CANCELLED"
    assert r.json()["job"]["reason"] == "cancelled while queued"
    lode_server.wait_run_status(queued["run_id"], "KILLED")
    r = lode_server.api("POST", "cancel", json={"id": queued["id"]})
    assert r.status_code == 409 and r.json()["error_code"] == "INVALID_STATE", r.text

    (outdir / "go").touch()
    assert lode_server.wait_end(hold["id"])["state"] == "SUCCEEDED"
    assert lode_server.get_job(queued["id"])["attempt"] == 0, "a cancelled queued job never starts"
