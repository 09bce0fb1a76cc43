"""Multi-process training (DDP) with two CPU processes on the gloo backend."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from training.config import TrainingConfig, load_training_config
from training.train import Trainer, init_distributed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _config(out_dir: Path) -> TrainingConfig:
    return load_training_config(None, [
        "model=costdcnet_cpu",
        ("data={kind: synthetic, length: 8, size: [64, 64], batch_size: 2, num_workers: 0, "
         "augmentation: {extra_holes: 0.5}}"),
        "train.max_steps=2", "train.log_every=1", "train.checkpoint_every=2", "train.threads=1",
        f"train.out_dir={out_dir}",
    ])


def _worker(rank: int, world_size: int, port: int, out_dir: Path) -> None:
    """One rank as torchrun would start it: the environment describes the process group."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world_size),
                      RANK=str(rank), LOCAL_RANK=str(rank))
    context = init_distributed(backend="gloo", device="cpu")
    try:
        trainer = Trainer(_config(out_dir), context)
        # Each rank trains on its own half of the data.
        indices = list(trainer.sampler)
        torch.save({"indices": indices, "state": trainer.model.state_dict()}, out_dir / f"rank{rank}_initial.pt")
        result = trainer.run()
        torch.save({"result": str(result), "state": trainer.model.state_dict()}, out_dir / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_end_with_identical_weights(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), tmp_path), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    initial = [torch.load(tmp_path / f"rank{r}_initial.pt", weights_only=True) for r in range(2)]
    # The sampler splits the data between the ranks...
    assert not set(initial[0]["indices"]) & set(initial[1]["indices"])
    assert len(initial[0]["indices"]) == len(initial[1]["indices"]) == 4
    # ...yet gradients are averaged, so both ranks hold the same weights after every step,
    # and those weights moved away from the start.
    moved = False
    for name, tensor in ranks[0]["state"].items():
        assert torch.equal(tensor, ranks[1]["state"][name]), name
        moved |= not torch.equal(tensor, initial[0]["state"][name])
    assert moved
    # Only rank 0 writes outputs.
    assert ranks[0]["result"] == str(tmp_path / "model.pt") and ranks[1]["result"] == "None"
    assert (tmp_path / "model.pt").is_file() and (tmp_path / "last.pt").is_file()
    assert len(list((tmp_path / "tensorboard").iterdir())) == 1
