"""CostDCNet hyper-parameters as data: a frozen dataclass loaded from YAML.

Every model variant (the paper's widths, the CPU configuration, the naive dense reference) is
one YAML file in ``depth_completion_ros/configs``; checkpoints and ONNX files store the same
mapping, so a model can always be rebuilt from the file alone.
"""
from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config_keys import reject_unknown_keys

#: Folder of the packaged model configurations (``<name>.yaml``).
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
#: Implementations of the 3D encoder: ``sparse`` pays only for occupied voxels, ``dense`` is the
#: straightforward Conv3d over the whole plane volume (reference for tests and benchmarks).
ENCODER3D_KINDS = ("sparse", "dense")
#: What the depth hypotheses are anchored on: ``planes`` are absolute depths (the paper's
#: CostDCNet); ``prior`` are signed log-depth offsets around a per-pixel prior depth
#: (:class:`~depth_completion_ros.model.prior_costdcnet.PriorCostDCNet`).
ANCHORS = ("planes", "prior")


class ModelConfigError(ValueError):
    """A model configuration is missing, malformed or internally inconsistent."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of one CostDCNet variant (see docs/model.md for the diagram).

    With ``anchor: planes`` depth planes sit at ``min_depth + k * plane_step`` for
    ``k = 0 … num_planes - 1``. With ``anchor: prior`` the hypotheses are the log-depth offsets
    ``-offsets[::-1] + offsets`` around a prior depth (``num_planes = 2 * len(offsets)``), the
    network runs at a working resolution of about ``working_area`` pixels and its correction
    is upsampled edge-aware with the ``guide_sigma_*`` range sigmas, after scaling it from 0 at
    measured working cells to full at ``correction_ramp_cells`` cells away (0: no ramp). The 2D and
    3D encoders both reduce the image by ``up_scale`` (stem stride times 2 per further stage);
    the cost-volume U-Net halves the volume ``len(unet_widths) - 1`` more times, so input
    height and width must be multiples of :attr:`total_stride`.
    """

    name: str = "costdcnet"
    num_planes: int = 16
    min_depth: float = 0.0
    max_depth: float = 10.0
    up_scale: int = 4
    feature_channels: int = 16
    encoder2d_stem_stride: int = 1
    encoder2d_widths: tuple[int, ...] = (64, 96, 128)
    encoder2d_blocks: int = 2
    encoder3d: str = "sparse"
    encoder3d_stem_stride: int = 1
    encoder3d_widths: tuple[int, ...] = (32, 48, 64)
    encoder3d_blocks: int = 1
    unet_widths: tuple[int, ...] = (32, 48, 64, 80)
    anchor: str = "planes"
    offsets: tuple[float, ...] = ()
    working_area: int = 320 * 256
    guide_sigma_depth: float = 0.05
    guide_sigma_color: float = 0.1
    correction_ramp_cells: int = 0
    init_logit_decay: float = 2.0
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for name in ("encoder2d_widths", "encoder3d_widths", "unet_widths"):
            # YAML gives lists; keep the dataclass hashable and immutable.
            object.__setattr__(self, name, tuple(int(w) for w in getattr(self, name)))
        object.__setattr__(self, "offsets", tuple(float(o) for o in self.offsets))
        problems = self._problems()
        if problems:
            raise ModelConfigError(f"model config {self.name!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        if self.num_planes < 3:
            problems.append(f"num_planes must be >= 3, got {self.num_planes}")
        if not 0.0 <= self.min_depth < self.max_depth:
            problems.append(f"need 0 <= min_depth < max_depth, got {self.min_depth} and {self.max_depth}")
        if self.encoder3d not in ENCODER3D_KINDS:
            problems.append(f"encoder3d must be one of {ENCODER3D_KINDS}, got {self.encoder3d!r}")
        for name in ("encoder2d_widths", "encoder3d_widths", "unet_widths"):
            widths = getattr(self, name)
            if not widths or min(widths) < 1:
                problems.append(f"{name} must be a non-empty list of positive ints, got {list(widths)}")
        for name in ("feature_channels", "encoder2d_blocks", "encoder3d_blocks"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("encoder2d_stem_stride", "encoder3d_stem_stride"):
            if getattr(self, name) not in (1, 2):
                problems.append(f"{name} must be 1 or 2, got {getattr(self, name)}")
        problems += self._anchor_problems()
        for prefix in ("encoder2d", "encoder3d"):
            stride = getattr(self, f"{prefix}_stem_stride") * 2 ** (len(getattr(self, f"{prefix}_widths")) - 1)
            if stride != self.up_scale:
                problems.append(
                    f"{prefix} reduces the image {stride}x (stem stride x 2 per stage after the first) "
                    f"but up_scale is {self.up_scale}"
                )
        if self.num_planes % self.volume_pool != 0:
            problems.append(
                f"num_planes ({self.num_planes}) must be a multiple of {self.volume_pool} "
                f"(the U-Net halves the plane axis {len(self.unet_widths) - 1} times)"
            )
        return problems

    def _anchor_problems(self) -> list[str]:
        if self.anchor not in ANCHORS:
            return [f"anchor must be one of {ANCHORS}, got {self.anchor!r}"]
        if self.anchor == "planes":
            return [] if not self.offsets else ["offsets are only used with anchor: prior"]
        problems = []
        if not self.offsets or self.offsets[0] <= 0 or any(b <= a for a, b in itertools.pairwise(self.offsets)):
            problems.append(f"offsets must be positive and strictly increasing, got {list(self.offsets)}")
        if self.num_planes != 2 * len(self.offsets):
            problems.append(f"num_planes ({self.num_planes}) must be 2 x len(offsets) ({len(self.offsets)}): "
                            "the hypotheses are the offsets and their negatives")
        if self.working_area < self.total_stride**2:
            problems.append(
                f"working_area ({self.working_area}) must be at least total_stride^2 ({self.total_stride**2})"
            )
        for name in ("guide_sigma_depth", "guide_sigma_color", "init_logit_decay"):
            if not getattr(self, name) > 0:
                problems.append(f"{name} must be positive, got {getattr(self, name)}")
        if self.correction_ramp_cells < 0:
            problems.append(f"correction_ramp_cells must be >= 0 (0: no ramp), got {self.correction_ramp_cells}")
        return problems

    @property
    def volume_pool(self) -> int:
        """How much the U-Net shrinks the volume along every axis at its coarsest level."""
        return 1 << (len(self.unet_widths) - 1)

    @property
    def total_stride(self) -> int:
        """Input height and width must be multiples of this."""
        return self.up_scale * self.volume_pool

    @property
    def plane_step(self) -> float:
        """Depth between neighbouring planes, in metres."""
        return (self.max_depth - self.min_depth) / (self.num_planes - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping (lists, not tuples) for YAML, JSON, checkpoints and ONNX metadata."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        """Build from a mapping, naming any key that is not a config field."""
        if not isinstance(values, Mapping):
            raise ModelConfigError(f"a model config must be a mapping, got {type(values).__name__}")
        reject_unknown_keys(values, (f.name for f in dataclasses.fields(cls)), "model config", ModelConfigError)
        try:
            return cls(**values)
        except TypeError as exc:
            raise ModelConfigError(f"bad model config values: {exc}") from exc

    def replace(self, **changes: Any) -> ModelConfig:
        """A copy with some fields changed (validated like any other config)."""
        return dataclasses.replace(self, **changes)


def available_configs() -> list[str]:
    """Names of the packaged configurations."""
    return sorted(path.stem for path in CONFIG_DIR.glob("*.yaml"))


def load_model_config(name_or_path: str | os.PathLike[str]) -> ModelConfig:
    """Load a config from a YAML path, or by bare name from the packaged ``configs/<name>.yaml``.

    A packaged config without a ``name`` key takes its file name, so checkpoints record which
    variant they came from.
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        path = candidate
    else:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ModelConfigError(
                f"no model config named {str(name_or_path)!r}; packaged configs: {available_configs()}"
            )
    if not path.is_file():
        raise ModelConfigError(f"{path}: model config file not found")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(values, dict):
        raise ModelConfigError(f"{path}: expected a mapping of config fields, got {type(values).__name__}")
    values.setdefault("name", path.stem)
    try:
        return ModelConfig.from_dict(values)
    except ModelConfigError as exc:
        raise ModelConfigError(f"{path}: {exc}") from exc
