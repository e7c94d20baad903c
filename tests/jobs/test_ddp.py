"""A real two-process PyTorch DistributedDataParallel training on CPU
(gloo), submitted with `lode job submit --replicas 2`.

The training script is ddp_train.py, run by an interpreter that has torch:
LODE_TORCH_PYTHON, else the system's python3 (the first on the default
search path, os.defpath, where a distribution's python3-torch lives, rather
than this suite's venv, which has mlflow and no torch). Without torch the
test skips with the reason, or fails when LODE_REQUIRE_TORCH=1 (make test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess

import pytest
from mlflow.tracking import MlflowClient

from conftest import HERE, cpu_count

TORCH_CHECK = (
    "import torch, torch.distributed as d; "
    "assert d.is_available(), 'torch.distributed is not available'; "
    "assert d.is_gloo_available(), 'torch.distributed has no gloo backend'; "
    "print(torch.__version__)"
)


@pytest.fixture(scope="module")
def torch_python() -> str:
    py = os.environ.get("LODE_TORCH_PYTHON") or shutil.which("python3", path=os.defpath)
    if py:
        # The job runs in its snapshot, not here: a relative path or a bare
        # name must be resolved now.
        py = shutil.which(py) or os.path.abspath(py)
    why = None
    if not py:
        why = "no python3 on the default path; set LODE_TORCH_PYTHON to an interpreter with torch"
    else:
        try:
            p = subprocess.run([py, "-c", TORCH_CHECK], capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as e:
            why = f"{py} cannot be run: {e}"
        else:
            if p.returncode != 0:
                last = (p.stderr.strip().splitlines() or ["?"])[-1]
                why = f"{py} cannot import torch with gloo ({last}); set LODE_TORCH_PYTHON to one that can"
    if why:
        if os.environ.get("LODE_REQUIRE_TORCH") == "1":
            pytest.fail(f"LODE_REQUIRE_TORCH=1 but {why}")
        pytest.skip(why)
    return py


def loopback_interface() -> str | None:
    """The loopback interface's name (lo on Linux, lo0 on the BSDs), for
    GLOO_SOCKET_IFNAME: gloo otherwise binds to the address the host name
    resolves to, which need not be loopback."""
    with_names = [name for _, name in socket.if_nameindex()]
    for name in ("lo", "lo0"):
        if name in with_names:
            return name
    return None


def test_ddp_two_ranks(lode_server, torch_python, workdir, outdir):
    shutil.copy(HERE / "ddp_train.py", workdir / "ddp_train.py")
    # Two replicas must fit the machine together: one core each where
    # there are two, half of one where there is one.
    cpus = min(1.0, cpu_count() / 2)
    env = ["--env", f"LODE_TEST_OUT={outdir}", "--env", "PYTHONUNBUFFERED=1"]
    if lo := loopback_interface():
        env += ["--env", f"GLOO_SOCKET_IFNAME={lo}"]

    res = lode_server.lode("submit", "-f", "--name", "ddp", "--replicas", "2", "--cpus", f"{cpus:g}",
                           "--memory", "1Gi", "--timeout", "90s", *env, "--",
                           torch_python, "ddp_train.py", cwd=workdir, timeout=120)
    m = re.search(r"submitted job ([0-9a-f]+)", res.stderr)
    assert m, str(res)
    job_id = m.group(1)
    lode_server.job_ids.append(job_id)
    rank1_log = lode_server.lode("logs", "--rank", "1", job_id).stdout
    assert res.returncode == 0, f"{res}\n--- rank 1's log\n{rank1_log}"

    job = lode_server.get_job(job_id)
    assert job["state"] == "SUCCEEDED", job
    assert job["exit_code"] == 0
    assert job["spec"]["replicas"] == 2
    assert len(job["placement"]["replicas"]) == 2
    assert job["spec"]["resources"]["milli_cpu"] == round(cpus * 1000)

    # -f printed rank 0's log; rank 1's is its own.
    assert "rank 0 of 2" in res.stdout and "rank 0 done: 12 steps" in res.stdout, res.stdout
    assert "rank 1 of 2" in rank1_log and "rank 1 done: 12 steps" in rank1_log, rank1_log
    assert "rank 0" not in rank1_log

    out = {}
    for rank in (0, 1):
        path = outdir / f"rank-{rank}.json"
        assert path.exists(), f"rank {rank} wrote nothing; its log:\n" + lode_server.lode(
            "logs", "--rank", str(rank), job_id).stdout
        out[rank] = json.loads(path.read_text())

    # The distributed environment, as docs/jobs.md documents it.
    ports = set()
    for rank, o in out.items():
        e = o["env"]
        assert e["RANK"] == str(rank)
        assert e["WORLD_SIZE"] == "2"
        assert e["LOCAL_RANK"] == str(rank), "both replicas run on this one node"
        assert e["LOCAL_WORLD_SIZE"] == "2"
        assert e["MASTER_ADDR"] == "127.0.0.1"
        assert e["MASTER_PORT"].isdigit() and 0 < int(e["MASTER_PORT"]) < 65536
        ports.add(e["MASTER_PORT"])
        assert e["LODE_JOB_ID"] == job_id
        assert e["LODE_JOB_ATTEMPT"] == "1"
        assert e["MLFLOW_RUN_ID"] == job["run_id"]
        assert e["CUDA_VISIBLE_DEVICES"] == "", "the job asked for no GPU"
    assert len(ports) == 1, f"the ranks were told different rendezvous ports: {ports}"

    # TF_CONFIG: the same cluster for both, each its own task.
    tf = {rank: json.loads(o["env"]["TF_CONFIG"]) for rank, o in out.items()}
    workers = tf[0]["cluster"]["worker"]
    assert tf[1]["cluster"] == tf[0]["cluster"] == {"worker": workers}
    assert len(workers) == 2 and len(set(workers)) == 2, workers
    for w in workers:
        host, _, port = w.rpartition(":")
        assert host == "127.0.0.1" and port.isdigit() and 0 < int(port) < 65536, w
    for rank in (0, 1):
        assert tf[rank]["task"] == {"type": "worker", "index": rank}

    # LODE_HOSTFILE: a file both replicas can read, in MPI/Horovod's form.
    for rank, o in out.items():
        assert o["env"]["LODE_HOSTFILE"], "LODE_HOSTFILE is not set"
        assert o["hostfile"] is not None, f"LODE_HOSTFILE {o['env']['LODE_HOSTFILE']} is not a readable file"
        lines = [ln.split() for ln in o["hostfile"].splitlines() if ln.strip()]
        assert all(len(ln) == 2 and re.fullmatch(r"slots=\d+", ln[1]) for ln in lines), o["hostfile"]
        assert {ln[0] for ln in lines} == {"127.0.0.1"}
        assert sum(int(ln[1].split("=")[1]) for ln in lines) == 2
    assert out[0]["hostfile"] == out[1]["hostfile"]

    # The training: identical parameters on both ranks, equal to plain SGD
    # on the union of their batches, and unlike what each would reach
    # alone: the gradients really were averaged across the two processes.
    p0, p1 = out[0]["params"], out[1]["params"]
    assert out[0]["steps"] == out[1]["steps"] == 12
    assert len(p0) == len(p1) == 6 * 8 + 8 + 8 + 1
    assert max_diff(p0, p1) <= 1e-12, f"ranks disagree by {max_diff(p0, p1)}"
    assert max_diff(p0, out[0]["reference_params"]) <= 1e-9
    assert max_diff(out[0]["reference_params"], out[1]["reference_params"]) == 0
    alone0, alone1 = out[0]["local_only_params"], out[1]["local_only_params"]
    assert max_diff(alone0, alone1) > 1e-4, "the ranks' shards should lead apart without allreduce"
    assert max_diff(p0, alone0) > 1e-4 and max_diff(p0, alone1) > 1e-4
    assert out[0]["losses"] != out[1]["losses"], "each rank should see its own data"
    assert out[0]["gathered_sums"] == out[1]["gathered_sums"]
    assert abs(out[0]["gathered_sums"][0] - sum(p0)) <= 1e-9

    # The job's run: finished, with both ranks' logs.
    lode_server.wait_run_status(job["run_id"], "FINISHED")
    client = MlflowClient(tracking_uri=lode_server.url)
    names = {a.path for a in client.list_artifacts(job["run_id"], "lode-logs/attempt-1")}
    assert names == {"lode-logs/attempt-1/rank-0.log", "lode-logs/attempt-1/rank-1.log"}, names


def max_diff(a: list[float], b: list[float]) -> float:
    assert len(a) == len(b)
    return max(abs(x - y) for x, y in zip(a, b))
