"""CostDCNet in PyTorch: the reference backend, and the one training code evaluates live models with."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..model import CheckpointError, DepthNetwork, ModelConfig, fuse_for_inference, load_checkpoint
from .base import DEFAULT_MODEL_SIZE, BackendError, CompletionBackend, ModelFileError, resolve_device


class TorchBackend(CompletionBackend):
    """CostDCNet in PyTorch on CPU or CUDA; optional FP16 autocast on CUDA.

    The backend owns ``model``: it is moved to ``device`` and switched to eval mode. Training
    code can wrap its live model for evaluation without writing a checkpoint.
    """

    name = "torch"
    takes_tensors = True

    def __init__(
        self,
        model: DepthNetwork,
        device: str | torch.device | None = None,
        fp16: bool = False,
        source: Path | None = None,
        model_size: tuple[int, int] = DEFAULT_MODEL_SIZE,
    ) -> None:
        resolved = resolve_device(device)
        if fp16 and resolved.type != "cuda":
            raise BackendError("fp16 inference needs a CUDA device (CPU autocast to float16 is slower, not faster)")
        config: ModelConfig = model.config
        super().__init__(device=resolved, source=source, input_size=None, size_multiple=config.total_stride,
                         model_size=model_size, config=config, input_names=model.input_names)
        self.model = model.to(resolved).eval()
        self.fp16 = fp16

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike[str], device: str | torch.device | None = None, fp16: bool = False
    ) -> TorchBackend:
        """Load a ``.pt`` checkpoint written by ``model.save_checkpoint``; the backend runs its
        fused inference form (``model.fuse_for_inference``: same outputs, less work)."""
        path = Path(path)
        resolved = resolve_device(device)
        try:
            model, meta = load_checkpoint(path, map_location=resolved)
        except FileNotFoundError as exc:
            raise ModelFileError(f"{path}: checkpoint not found") from exc
        except CheckpointError as exc:
            raise ModelFileError(str(exc)) from exc
        return cls(fuse_for_inference(model), resolved, fp16=fp16, source=path, model_size=_size_from_meta(meta, path))

    def describe(self) -> str:
        return super().describe() + (", fp16 autocast" if self.fp16 else "")

    @torch.inference_mode()
    def _forward(
        self, rgb: torch.Tensor, depth: torch.Tensor, prior: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = (rgb, depth) if prior is None else (rgb, depth, prior)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.fp16):
            completed, confidence = self.model(*inputs)
        return completed.float(), confidence.float()


def _size_from_meta(meta: Mapping[str, Any], path: Path) -> tuple[int, int]:
    """Training resolution recorded in a checkpoint's meta (``input_size: [W, H]``), else the default."""
    size = meta.get("input_size")
    if size is None:
        return DEFAULT_MODEL_SIZE
    if not (isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) and v > 0 for v in size)):
        raise ModelFileError(f"{path}: meta 'input_size' must be [width, height], got {size!r}")
    return int(size[0]), int(size[1])
