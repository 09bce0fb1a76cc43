"""Learning-rate schedules, stepped once per optimizer step.

``step``: the paper's schedule (constant, multiplied by ``gamma`` every ``step_epochs`` epochs;
CostDCNet: 50 epochs, x0.5 every 20). ``cosine``: linear warm-up then cosine decay to
``min_lr_ratio`` of the peak. Both are expressed per iteration so that a resumed run, a run
with another batch size or a DDP run with more ranks follows the same curve in epochs.
The multipliers are small picklable classes, so ``LambdaLR.state_dict()`` captures them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SCHEDULE_KINDS = ("step", "cosine", "constant")


@dataclass(frozen=True)
class ScheduleConfig:
    """The ``schedule`` section of a training config. ``kind``: step | cosine | constant;
    step: ``step_epochs``, ``gamma``; cosine: ``warmup_steps`` (else ``warmup_epochs``),
    ``min_lr_ratio``. Epoch counts may be fractional."""

    kind: str = "step"
    step_epochs: float = 20.0
    gamma: float = 0.5
    warmup_epochs: float = 1.0
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise ValueError(f"unknown schedule kind {self.kind!r} (use one of {', '.join(SCHEDULE_KINDS)})")


class StepDecay:
    """``gamma ** (step // period)``: the paper's piecewise-constant decay."""

    def __init__(self, period_steps: int, gamma: float) -> None:
        if period_steps <= 0 or not 0 < gamma <= 1:
            raise ValueError(f"step schedule needs period > 0 and 0 < gamma <= 1, got {period_steps}, {gamma}")
        self.period_steps = period_steps
        self.gamma = gamma

    def __call__(self, step: int) -> float:
        return self.gamma ** (step // self.period_steps)


class WarmupCosine:
    """Linear warm-up from ``1 / warmup_steps`` to 1, then half a cosine down to ``min_ratio``."""

    def __init__(self, warmup_steps: int, total_steps: int, min_ratio: float) -> None:
        if total_steps <= 0 or warmup_steps < 0 or warmup_steps >= total_steps or not 0 <= min_ratio <= 1:
            raise ValueError(
                f"cosine schedule needs 0 <= warmup ({warmup_steps}) < total ({total_steps}) and "
                f"0 <= min_lr_ratio ({min_ratio}) <= 1"
            )
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        progress = min(1.0, (step - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_ratio + (1.0 - self.min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, config: ScheduleConfig, steps_per_epoch: int, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step scheduler from the ``schedule`` section of a training config."""
    multiplier: StepDecay | WarmupCosine
    if config.kind == "step":
        multiplier = StepDecay(max(1, round(config.step_epochs * steps_per_epoch)), config.gamma)
    elif config.kind == "cosine":
        warmup = config.warmup_steps
        if warmup is None:
            warmup = round(config.warmup_epochs * steps_per_epoch)
        multiplier = WarmupCosine(warmup, total_steps, config.min_lr_ratio)
    else:
        multiplier = StepDecay(total_steps + 1, 1.0)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
