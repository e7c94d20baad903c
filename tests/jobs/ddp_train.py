"""A small PyTorch DistributedDataParallel training, run by test_ddp.py as a
Lode job with --replicas 2 (one process per rank, CPU, gloo).

It takes its rendezvous from the environment Lode gives each replica
(init_method="env://": MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK), trains a
two-layer network for a few steps on its own shard of a fixed dataset
(DistributedSampler), and writes to $LODE_TEST_OUT/rank-<RANK>.json:

- the distributed variables as it saw them, TF_CONFIG, and the hostfile
  named by LODE_HOSTFILE with its contents;
- its final parameters after DDP training;
- the parameters a single process reaches by plain SGD on the union of
  both ranks' batches, step by step: with equal per-rank batches the mean
  of the ranks' mean-loss gradients (what DDP's allreduce averages) is the
  gradient of the mean loss over the union, so DDP must land there;
- the parameters this rank alone would reach on its own shard (no
  allreduce), which differ between ranks: identical DDP parameters then
  show that gradients were exchanged, not just that both started alike.

It does not import mlflow: the interpreter with torch need not have it.
"""

import json
import os
import sys

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

BATCH = 8  # samples per rank per step
EPOCHS = 3
SAMPLES = 64
LR = 0.05
SEED = 1234


def dataset() -> TensorDataset:
    # The same on every rank (fixed seed); the sampler gives each rank its
    # own half.
    g = torch.Generator().manual_seed(SEED)
    x = torch.randn(SAMPLES, 6, generator=g)
    w = torch.randn(6, 1, generator=g)
    y = torch.tanh(x @ w) + 0.1 * torch.randn(SAMPLES, 1, generator=g)
    return TensorDataset(x, y)


def make_model() -> nn.Module:
    # Every rank builds the same initial weights; DDP would broadcast rank
    # 0's anyway, the reference needs them without a process group.
    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1)).double()


def flat(model: nn.Module) -> list[float]:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).tolist()


def batches(ds, rank: int, world: int, epoch: int):
    s = DistributedSampler(ds, num_replicas=world, rank=rank, shuffle=True, seed=SEED, drop_last=True)
    s.set_epoch(epoch)
    return list(DataLoader(ds, batch_size=BATCH, sampler=s))


def train_plain(ds, world: int, ranks: list[int]) -> list[float]:
    """SGD in one process on the concatenation of ranks' batches, step by
    step as DDP takes them."""
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    for epoch in range(EPOCHS):
        per_rank = [batches(ds, r, world, epoch) for r in ranks]
        for step in range(len(per_rank[0])):
            x = torch.cat([b[step][0] for b in per_rank]).double()
            y = torch.cat([b[step][1] for b in per_rank]).double()
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
    return flat(model)


def main() -> int:
    env = {k: os.environ.get(k) for k in (
        "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
        "TF_CONFIG", "LODE_HOSTFILE", "LODE_JOB_ID", "LODE_JOB_ATTEMPT", "MLFLOW_RUN_ID",
        "CUDA_VISIBLE_DEVICES")}
    rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
    print(f"rank {rank} of {world}: torch {torch.__version__}, master {env['MASTER_ADDR']}:{env['MASTER_PORT']}",
          flush=True)
    # One thread per rank: the job asked for at most one core.
    torch.set_num_threads(1)

    dist.init_process_group("gloo", init_method="env://")
    assert dist.get_rank() == rank and dist.get_world_size() == world

    ds = dataset()
    model = DDP(make_model())
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    loss_fn = nn.MSELoss()
    losses = []
    for epoch in range(EPOCHS):
        for x, y in batches(ds, rank, world, epoch):
            opt.zero_grad()
            loss = loss_fn(model(x.double()), y.double())
            loss.backward()  # DDP averages the gradients across ranks here
            opt.step()
            losses.append(loss.item())
    params = flat(model.module)

    # Each rank's sum of parameters, gathered: what every rank sees of the
    # others, one more exchange through the process group.
    sums = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
    dist.all_gather(sums, torch.tensor([sum(params)], dtype=torch.float64))
    dist.barrier()
    dist.destroy_process_group()

    hostfile = None
    if env["LODE_HOSTFILE"] and os.path.isfile(env["LODE_HOSTFILE"]):
        with open(env["LODE_HOSTFILE"]) as f:
            hostfile = f.read()
    out = {
        "env": env,
        "hostfile": hostfile,
        "params": params,
        "gathered_sums": [s.item() for s in sums],
        "reference_params": train_plain(ds, world, list(range(world))),
        "local_only_params": train_plain(ds, world, [rank]),
        "losses": losses,
        "steps": len(losses),
    }
    path = os.path.join(os.environ["LODE_TEST_OUT"], f"rank-{rank}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(path + ".tmp", path)  # the test never reads half a file
    print(f"rank {rank} done: {len(losses)} steps, last loss {losses[-1]:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
