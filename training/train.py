"""Train CostDCNet: ``python -m training.train --config training/configs/<name>.yaml [--set key=value ...]``.

One script for every setting: synthetic pre-training, Matterport3D, self-supervised fine-tuning
on a user's own recordings; one process on a CPU or GPU, or several GPUs with
``torchrun --nproc_per_node=N -m training.train ...`` (DDP; ``--backend gloo`` on CPUs).

What a run writes to ``train.out_dir``:
  ``last.pt``        full training state (model, optimizer, scheduler, AMP scaler, step, RNG,
                     history), every ``train.checkpoint_every`` steps and at the end;
                     ``--resume last.pt`` continues bit-exactly where it stopped
  ``best.pt``        the weights of the best validation hole RMSE so far (model selection; for a
                     prior-anchored model among the weights that pass training.checks)
  ``model.pt``       the trained weights with their config and training metadata (what
                     ``training.evaluate``, ``depth-completion export-onnx`` and the node load)
  ``history.json``   per-step loss and learning rate, periodic validation metrics (with last.pt)
  ``loss_curve.png`` the curves, drawn at the end; ``tensorboard/`` the same, live

The config (:mod:`training.config`) is typed and checked when it is loaded; overrides use dotted
keys with YAML values: ``--set optim.lr=1e-3 data.batch_size=8``. ``--resume last.pt`` without
``--config`` continues with the config stored in the checkpoint.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, default_collate
from tqdm import tqdm

from depth_completion_ros.depth_io import atomic_output
from depth_completion_ros.metrics import MIN_GT_DEPTH, aggregate_metrics, depth_metrics, metric_key
from depth_completion_ros.model import (
    DepthNetwork,
    FullResolutionPrediction,
    PriorCostDCNet,
    build_model,
    load_checkpoint,
    load_model_config,
    read_checkpoint,
    save_checkpoint,
    with_config,
)
from training.checks import model_flat_wall_error, passes_flat_wall_check
from training.config import OptimConfig, TrainingConfig, apply_overrides, load_training_config
from training.curves import plot_runs
from training.datasets import MixtureDataset, TrainingItem, build_dataset
from training.losses import LossConfig, masked_depth_loss, plane_distribution_loss
from training.schedules import build_scheduler

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

LOG = logging.getLogger("train")
#: Key of the optimizer/scheduler/RNG state in ``last.pt``, next to the model checkpoint's keys.
TRAINING_STATE_KEY = "training_state"
#: :func:`anchor_loss` weighs the measured pixels only.
ANCHOR_PIXELS = LossConfig(hole_weight=0.0, observed_weight=1.0)

# ----------------------------------------------------------------------------- distributed


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits: one process, or rank ``rank`` of ``world_size`` under torchrun."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(backend: str | None = None, device: str | None = None) -> DistributedContext:
    """Join the process group torchrun describes (``WORLD_SIZE``/``RANK``/``LOCAL_RANK``), if any.

    NCCL with one GPU per process when CUDA is available, gloo otherwise (or as ``backend``).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if world_size == 1:
        return DistributedContext(device=torch.device("cuda" if use_cuda else "cpu"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
        target = torch.device("cuda", local_rank)
    else:
        target = torch.device("cpu")
    dist.init_process_group(backend=backend or ("nccl" if use_cuda else "gloo"))
    return DistributedContext(rank=dist.get_rank(), world_size=dist.get_world_size(), device=target)


class PredictionOutputs(torch.nn.Module):
    """Makes the model's training prediction the forward pass, so DDP, which only sees
    ``forward``, syncs the gradients of losses on the probabilities too: ``predict`` (depth,
    confidence, plane probabilities) or, for a prior-anchored model, ``predict_full`` (the
    frame path: working resolution, network, edge-aware upsampling)."""

    def __init__(self, model: DepthNetwork) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor, **options: Any) -> Any:
        return training_prediction(self.model)(*inputs, **options)


def training_prediction(model: DepthNetwork) -> Callable[..., Any]:
    """What training and validation score: ``predict_full`` (the whole frame path) for a
    prior-anchored model, ``predict`` otherwise."""
    return model.predict_full if isinstance(model, PriorCostDCNet) else model.predict


def model_inputs(model: DepthNetwork, batch: Mapping[str, torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """The batch tensors the model takes, in its ``input_names`` order (``rgb``, ``depth`` [, ``prior``])."""
    missing = [name for name in model.input_names if name not in batch]
    if missing:
        raise ValueError(f"model {model.config.name} needs inputs {list(model.input_names)}; the batch lacks {missing} "
                         "(a prior-anchored model needs with_prior: true in the data config)")
    return [batch[name].to(device, non_blocking=True) for name in model.input_names]


def collate_frames(items: Sequence[TrainingItem]) -> TrainingItem:
    """``default_collate``, with a message that names the fix when a batch mixes frame sizes (a
    mixture of cameras validated on whole frames)."""
    sizes = sorted({tuple(item["depth"].shape[-2:]) for item in items})
    if len(sizes) > 1:
        listed = ", ".join(f"{width}x{height}" for height, width in sizes)
        raise ValueError(f"a batch mixes frame sizes ({listed}): crop the items to one size "
                         "(augmentation: {crop: [W, H]}) or set that section's batch_size: 1")
    batch: TrainingItem = default_collate(list(items))
    return batch


def draw_working_size(
    height: int, width: int, scales: Sequence[float] | None, seed: int, step: int
) -> tuple[int, int] | None:
    """A random working resolution ``(w, h)`` for a training crop: the crop shrunk by a factor
    drawn log-uniformly from ``scales`` ([min, max]), so one model learns every frame-to-working
    ratio between 320x256 and 1920x1080 frames. Drawn from ``(seed, step)`` alone, so a resumed
    run draws what the interrupted one would have (the global generators are also consumed by
    the data loader when it starts an epoch)."""
    if not scales:
        return None
    low, high = (float(s) for s in scales)
    factor = float(np.exp(np.random.default_rng([seed, step]).uniform(np.log(low), np.log(high))))
    return max(1, round(width / factor)), max(1, round(height / factor))


class ResumableSampler(DistributedSampler[int]):
    """``DistributedSampler`` that can start an epoch part-way, so a resumed run sees exactly
    the batches the interrupted one had not reached (same permutation: seed + epoch)."""

    def __init__(self, dataset: Dataset[TrainingItem], **options: Any) -> None:
        super().__init__(dataset, **options)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.skip :])

    def __len__(self) -> int:
        return self.num_samples - self.skip


def average_buffers(model: torch.nn.Module, world_size: int) -> None:
    """Average floating-point buffers (batch-norm running statistics) over the ranks.

    DDP copies rank 0's buffers to the others before each forward pass, but the pass itself
    updates every rank's statistics from its own batch, so after a step the ranks differ.
    Averaging before a checkpoint leaves every rank with the same model, with statistics
    estimated from all ranks' data rather than one rank's.
    """
    for buffer in model.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer)
            buffer /= world_size


# ----------------------------------------------------------------------------- state


def rng_state() -> dict[str, Any]:
    """Every global random generator a training step may draw from, as plain data and tensors
    (checkpoints load with ``weights_only=True``, which refuses numpy arrays)."""
    numpy_state = np.random.get_state(legacy=False)
    numpy_state["state"]["key"] = torch.from_numpy(numpy_state["state"]["key"].astype(np.int64))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    random.setstate(state["python"])
    numpy_state = copy.deepcopy(state["numpy"])
    numpy_state["state"]["key"] = numpy_state["state"]["key"].numpy().astype(np.uint32)
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_optimizer(model: torch.nn.Module, config: OptimConfig) -> torch.optim.Optimizer:
    """Adam or AdamW; weight decay skips biases and norm parameters (1-D tensors)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW if config.name == "adamw" else torch.optim.Adam
    return optimizer(groups, lr=config.lr, betas=config.betas)


# ----------------------------------------------------------------------------- validation


@torch.no_grad()
def validate(model: DepthNetwork, loader: DataLoader[TrainingItem], device: torch.device) -> dict[str, float]:
    """RMSE and MAE (m) of the raw network output, over all target pixels and over the input's
    holes, averaged over frames (the benchmark convention of :func:`metrics.aggregate_metrics`).

    A quick learning signal while training; the benchmark numbers come from evaluate.py, which
    runs the full inference pipeline at native resolution against the baselines.
    A prior-anchored model is scored on the whole frame (:meth:`predict_full`) and the prior
    itself is scored too (``prior_*``): the model is only worth its cost where it beats it.
    On a mixture (read in order: validation loaders do not shuffle) each part's hole RMSE is
    reported too (``part{i}_hole_rmse``, ``part{i}_prior_hole_rmse``), and ``worst_part``: the
    largest relative change of hole RMSE against the prior over the parts. A mean over all
    frames lets one camera's gains hide another's losses (docs/training.md).
    """
    was_training = model.training
    model.eval()
    dataset = loader.dataset
    part_of = dataset.part_of if isinstance(dataset, MixtureDataset) else (lambda index: 0)
    per_frame: dict[str, list[dict[str, float]]] = {"": [], "prior_": []}
    parts: list[int] = []
    for batch in loader:
        inputs = model_inputs(model, batch, device)
        predictions = {"": training_prediction(model)(*inputs).depth.float().cpu()}
        if "prior" in batch:
            predictions["prior_"] = torch.where(batch["depth"] > 0, batch["depth"], batch["prior"])
        for prefix, pred in predictions.items():
            for frame_pred, target, depth in zip(pred, batch["target"], batch["depth"], strict=True):
                per_frame[prefix].append(depth_metrics(frame_pred, target, raw=depth, min_gt=MIN_GT_DEPTH))
        parts += [part_of(len(parts) + i) for i in range(len(batch["depth"]))]
    model.train(was_training)
    metrics = {}
    for prefix, frames in per_frame.items():
        if frames:
            summary = aggregate_metrics(frames)
            metrics.update({f"{prefix}{group}_{metric}": summary[metric_key(group, metric)]
                            for group in ("all", "hole") for metric in ("rmse", "mae")})
    if per_frame["prior_"]:
        changes = []
        for part in sorted(set(parts)):
            for prefix in ("", "prior_"):
                frames = [frame for frame, p in zip(per_frame[prefix], parts, strict=True) if p == part]
                metrics[f"part{part}_{prefix}hole_rmse"] = aggregate_metrics(frames)[metric_key("hole", "rmse")]
            changes.append(metrics[f"part{part}_hole_rmse"] / metrics[f"part{part}_prior_hole_rmse"] - 1.0)
        metrics["worst_part"] = float(np.nanmax(changes)) if not np.isnan(changes).all() else math.nan
    return metrics


def anchor_loss(prediction: FullResolutionPrediction, offsets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the offset distribution at the measured working-resolution pixels towards
    their measured offset from the prior (``LossConfig.anchor_weight``)."""
    inputs = prediction.inputs
    measured = torch.log(inputs.depth.clamp_min(MIN_GT_DEPTH) / inputs.prior)
    return plane_distribution_loss(prediction.working.probabilities, inputs.depth, inputs.depth, offsets,
                                   ANCHOR_PIXELS, positions=measured)


# ----------------------------------------------------------------------------- outputs


def write_json(path: Path, data: Any) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


# ----------------------------------------------------------------------------- training


class Trainer:
    """Holds everything one run needs; :meth:`run` trains until the configured step count."""

    def __init__(self, config: TrainingConfig, context: DistributedContext) -> None:
        self.config = config
        self.context = context
        settings = config.train
        if settings.threads:
            torch.set_num_threads(settings.threads)
        self.seed = settings.seed
        seed_everything(self.seed)
        self.out_dir = Path(settings.out_dir)
        self.device = context.device

        model_config = load_model_config(config.model)
        if config.init:
            # Fine-tuning: the init checkpoint's weights in the config's model, fresh optimizer;
            # the config may change settings outside the weights (the frame path).
            model = with_config(load_checkpoint(config.init)[0], model_config, f"init checkpoint {config.init}")
        else:
            model = build_model(model_config)
        self.model = model.to(self.device)
        self.net: torch.nn.Module = PredictionOutputs(self.model)
        if context.distributed:
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.net, device_ids=device_ids)

        self.batch_size = config.data.batch_size
        num_workers = config.data.num_workers
        self.dataset = build_dataset(config.data.dataset)
        self.sampler = ResumableSampler(
            self.dataset, num_replicas=context.world_size, rank=context.rank, shuffle=True, seed=self.seed,
            drop_last=True,
        )
        self.loader = DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            collate_fn=collate_frames,
        )
        self.steps_per_epoch = self.sampler.num_samples // self.batch_size
        if self.steps_per_epoch == 0:
            raise ValueError(
                f"{len(self.dataset)} samples over {context.world_size} ranks do not fill one batch of "
                f"{self.batch_size}"
            )
        self.total_steps = settings.max_steps or settings.epochs * self.steps_per_epoch

        self.val_loader = None
        if config.val is not None and context.is_main:
            self.val_every = config.val.every_steps or self.steps_per_epoch
            self.val_loader = DataLoader(build_dataset(config.val.dataset), collate_fn=collate_frames,
                                         batch_size=config.val.batch_size or self.batch_size, num_workers=num_workers)
        self.select_by = "hole_rmse" if config.val is None else config.val.select_by
        if self.select_by == "worst_part" and not isinstance(self.model, PriorCostDCNet):
            raise ValueError(f"val.select_by: worst_part compares each part with the prior; {config.model} has none "
                             "(use hole_rmse)")

        self.loss_config = config.loss
        self.optimizer = build_optimizer(self.model, config.optim)
        self.scheduler = build_scheduler(self.optimizer, config.schedule, self.steps_per_epoch, self.total_steps)
        self.amp = settings.amp and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.grad_clip = config.optim.grad_clip
        self.step = 0
        self.history: dict[str, Any] = {"step": [], "loss": [], "lr": [], "val": []}
        self.writer: SummaryWriter | None = None
        self.train_seconds = 0.0

    # -- checkpoints

    def state(self) -> dict[str, Any]:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "step": self.step,
            "history": self.history,
            "rng": rng_state(),
            "train_seconds": self.train_seconds,
            "training_config": self.config.to_dict(),
        }

    def save_training_state(self) -> Path:
        """``last.pt``: a model checkpoint (``load_checkpoint`` reads it, so evaluate.py and
        ``init=`` take it) with the training state under an extra top-level key. The state is
        not checkpoint meta because optimizer state is keyed by parameter index (int keys),
        which ``save_checkpoint`` refuses for meta. ``history.json`` is rewritten with it, so a
        run that is killed (not stopped) still leaves its curves' data."""
        path = self.out_dir / "last.pt"
        payload = {"config": self.model.config.to_dict(), "state_dict": self.model.state_dict(),
                   "meta": {"steps": self.step}, TRAINING_STATE_KEY: self.state()}
        with atomic_output(path) as tmp:
            torch.save(payload, tmp)
        write_json(self.out_dir / "history.json", self.history)
        return path

    def resume(self, path: str | os.PathLike[str]) -> None:
        """Restore model, optimizer, scheduler, scaler, step, history and RNG from ``last.pt``."""
        model, _ = load_checkpoint(path)
        state = read_checkpoint(path).get(TRAINING_STATE_KEY)
        if state is None:
            raise ValueError(f"{path}: holds weights only, no training state to resume "
                             "(use --set init=PATH to fine-tune from it)")
        if model.config != self.model.config:
            raise ValueError(f"{path}: checkpoint model {model.config.name} differs from the configured "
                             f"{self.model.config.name}")
        self.model.load_state_dict(model.state_dict())
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.history = state["history"]
        self.train_seconds = float(state.get("train_seconds", 0.0))
        restore_rng_state(state["rng"])
        LOG.info("resumed from %s at step %d", path, self.step)

    def save_model(self) -> Path:
        """The deliverable: weights plus what produced them (no optimizer state)."""
        path = self.out_dir / "model.pt"
        val = self.history["val"][-1] if self.history["val"] else None
        save_checkpoint(
            path,
            self.model,
            steps=self.step,
            epochs=self.step / self.steps_per_epoch,
            train_seconds=round(self.train_seconds, 1),
            world_size=self.context.world_size,
            device=str(self.device),
            training_config=self.config.to_dict(),
            final_val=val,
            init_checkpoint=self.config.init,
        )
        return path

    # -- loop

    def log(self, loss: float, lr: float) -> None:
        self.history["step"].append(self.step)
        self.history["loss"].append(loss)
        self.history["lr"].append(lr)
        if self.writer is not None:
            self.writer.add_scalar("train/loss", loss, self.step)
            self.writer.add_scalar("train/lr", lr, self.step)

    def run_validation(self, loader: DataLoader[TrainingItem]) -> None:
        """Validate; the best weights so far by ``val.select_by`` are also written as ``best.pt``
        (model selection).

        A prior-anchored model is also put through the release check (:mod:`training.checks`):
        weights that fail it are never selected, whatever their hole RMSE."""
        metrics = validate(self.model, loader, self.device)
        if isinstance(self.model, PriorCostDCNet):
            metrics["flat_wall_error"] = model_flat_wall_error(self.model)
        key = self.select_by
        selectable = (entry[key] for entry in self.history["val"] if passes_flat_wall_check(entry) and key in entry)
        best = min(selectable, default=float("inf"))
        self.history["val"].append({"step": self.step, **metrics})
        if passes_flat_wall_check(metrics) and metrics[key] < best:
            save_checkpoint(self.out_dir / "best.pt", self.model, steps=self.step, val=metrics,
                            training_config=self.config.to_dict())
        if self.writer is not None:
            for name, value in metrics.items():
                self.writer.add_scalar(f"val/{name}", value, self.step)
        LOG.info("step %d validation: %s", self.step, ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    def train_step(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        inputs = model_inputs(self.model, batch, self.device)
        depth, target = inputs[1], batch["target"].to(self.device, non_blocking=True)
        options = {}
        if isinstance(self.model, PriorCostDCNet):
            height, width = depth.shape[-2:]
            options["size"] = draw_working_size(height, width, self.config.train.working_scale, self.seed, self.step)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            prediction = self.net(*inputs, **options)
        loss = masked_depth_loss(prediction.depth.float(), target, depth, self.loss_config)
        if self.loss_config.plane_weight > 0:
            loss = loss + self.loss_config.plane_weight * self.distribution_loss(prediction, target, depth)
        if self.loss_config.anchor_weight > 0 and isinstance(self.model, PriorCostDCNet):
            loss = loss + self.loss_config.anchor_weight * anchor_loss(prediction, self.model.offsets)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.grad_clip:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        return loss.detach()

    def distribution_loss(self, prediction: Any, target: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the hypothesis distribution: over the absolute planes, or, for a
        prior-anchored model, over the log offsets at its working resolution (target resized
        there by nearest neighbour, as the input depth is)."""
        if not isinstance(self.model, PriorCostDCNet):
            return plane_distribution_loss(prediction.probabilities, target, depth, self.model.plane_depths.flatten(),
                                           self.loss_config)
        inputs = prediction.inputs
        width, height = inputs.size
        target_w = F.pad(F.interpolate(target, size=(height, width), mode="nearest-exact"),
                         (0, inputs.depth.shape[-1] - width, 0, inputs.depth.shape[-2] - height))
        offsets = torch.log(target_w.clamp_min(MIN_GT_DEPTH) / inputs.prior)
        return plane_distribution_loss(prediction.working.probabilities, target_w, inputs.depth, self.model.offsets,
                                       self.loss_config, positions=offsets)

    def run(self, stop_after: int | None = None) -> Path | None:
        """Train to ``total_steps`` (or ``stop_after`` more steps); returns ``model.pt`` on rank 0."""
        log_every, checkpoint_every = self.config.train.log_every, self.config.train.checkpoint_every
        end_step = self.total_steps if stop_after is None else min(self.total_steps, self.step + stop_after)
        if self.context.is_main:
            from torch.utils.tensorboard import SummaryWriter

            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.writer = SummaryWriter(str(self.out_dir / "tensorboard"), purge_step=self.step)
            LOG.info(
                "%d samples, %d steps/epoch x %d ranks, steps %d -> %d of %d, device %s, AMP %s",
                len(self.dataset), self.steps_per_epoch, self.context.world_size, self.step, end_step,
                self.total_steps, self.device, self.amp,
            )
        self.net.train()
        started, seconds_before = time.perf_counter(), self.train_seconds
        bar = tqdm(total=end_step, initial=self.step, unit="step", disable=not self.context.is_main, dynamic_ncols=True)
        try:
            # Summed loss of the steps since the last log entry, and how many there were (a resumed
            # or stopped run does not start or end on a log_every boundary).
            running = torch.zeros((), device=self.device)
            accumulated = 0
            while self.step < end_step:
                epoch, done_in_epoch = divmod(self.step, self.steps_per_epoch)
                self.sampler.set_epoch(epoch)
                self.sampler.skip = done_in_epoch * self.batch_size
                self.dataset.set_epoch(epoch)
                for batch in self.loader:
                    running += self.train_step(batch)
                    accumulated += 1
                    self.step += 1
                    bar.update(1)
                    if self.step % log_every == 0 or self.step == end_step:
                        if self.context.distributed:
                            dist.all_reduce(running)
                            running /= self.context.world_size
                        loss = float(running.item()) / accumulated
                        running.zero_()
                        accumulated = 0
                        if self.context.is_main:
                            lr = float(self.scheduler.get_last_lr()[0])
                            self.log(loss, lr)
                            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", epoch=epoch)
                    if self.context.is_main and self.val_loader is not None and self.step % self.val_every == 0:
                        self.run_validation(self.val_loader)
                    if self.step % checkpoint_every == 0 or self.step == end_step:
                        self.train_seconds = seconds_before + time.perf_counter() - started
                        if self.context.distributed:
                            average_buffers(self.model, self.context.world_size)
                        if self.context.is_main:
                            self.save_training_state()
                        if self.context.distributed:
                            dist.barrier()
                    if self.step >= end_step:
                        break
        finally:
            # Also on an error or Ctrl-C: the writer's thread flushes the events logged so far.
            bar.close()
            if self.writer is not None:
                self.writer.close()
                self.writer = None
        if not self.context.is_main:
            return None
        write_json(self.out_dir / "history.json", self.history)
        plot_runs({self.out_dir.name: self.history}, self.out_dir / "loss_curve.png", title=self.model.config.name)
        if self.step < self.total_steps:
            LOG.info("stopped at step %d of %d; continue with --resume %s", self.step, self.total_steps,
                     self.out_dir / "last.pt")
            return None
        path = self.save_model()
        LOG.info("trained %d steps in %.0f s; weights in %s", self.step, self.train_seconds, path)
        return path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training.train", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=None,
                        help="training config YAML (training/configs/); with --resume the default is the config "
                        "stored in the checkpoint")
    parser.add_argument("--set", dest="overrides", nargs="+", action="extend", default=[], metavar="SECTION.KEY=VALUE",
                        help="config overrides, values as YAML, checked like the file (--set optim.lr=1e-3 val=null)")
    parser.add_argument("--resume", type=Path, default=None, help="continue from a last.pt training state")
    parser.add_argument("--stop-after", type=int, default=None,
                        help="stop after this many steps in this invocation (the schedule still spans the full run)")
    parser.add_argument("--backend", default=None,
                        help="torch.distributed backend under torchrun (default nccl on GPU, gloo on CPU)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    return parser


def stored_training_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> TrainingConfig:
    """The config a ``last.pt`` was trained with (its stored mapping, checked like a config file),
    with ``overrides`` applied."""
    state = read_checkpoint(path).get(TRAINING_STATE_KEY)
    if state is None or "training_config" not in state:
        raise ValueError(f"{path}: holds no training state with its config; give --config")
    try:
        return TrainingConfig.from_mapping(apply_overrides(state["training_config"], overrides))
    except ValueError as exc:
        raise ValueError(f"{path}: stored {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.config is None and args.resume is None:
        parser.error("give --config, or --resume to continue with the checkpoint's own config")
    try:
        if args.config is not None:
            config = load_training_config(args.config, args.overrides)
        else:
            config = stored_training_config(args.resume, args.overrides)
    except (FileNotFoundError, ValueError) as exc:
        parser.error(str(exc))
    context = init_distributed(args.backend, args.device)
    if not context.is_main:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        trainer = Trainer(config, context)
        if args.resume is not None:
            trainer.resume(args.resume)
        trainer.run(args.stop_after)
    finally:
        if context.distributed:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
