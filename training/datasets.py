"""PyTorch datasets for training CostDCNet.

Every item is a dict of float32 tensors at the network's input size:
``rgb`` (3, H, W) in 0–1, ``depth`` (1, H, W) the network input in metres and ``target``
(1, H, W) the supervision in metres, 0 wherever the loss must not look.

- :class:`GroundTruthDataset` (and :func:`matterport_dataset`): frames with dense ground truth,
  e.g. the Matterport3D benchmark layout with split lists.
- :class:`SyntheticDataset`: rendered scenes from :mod:`depth_completion_ros.synthetic`, made on the
  fly from ``seed = base_seed + index`` (deterministic, no files needed).
- :class:`SelfSupervisedDataset`: a user's own raw recordings with no ground truth (the seed's
  data0929): extra realistic regions of the raw depth are hidden from the input and the network
  is supervised with the raw values it was not shown.
- :class:`MixtureDataset`: several of the above as one training set, each part repeated to set
  its share; a later stage adds a part and resumes.

With ``with_prior`` (for prior-anchored models) items stay at the frame's native resolution
(random ``crop`` windows of it) and carry ``prior`` (1, H, W): the classical fill of the input,
computed exactly as :class:`~depth_completion_ros.pipeline.DepthCompleter` computes it (after
the extra holes and the midpoint pre-pass, on the whole frame, before cropping).

Depth is only ever resized with nearest neighbour (:func:`geometry.resize_depth`): bilinear or
area resizing blends holes with valid depth and invents small fake depths, one of the causes of
the seed's REL of 0.65. Augmentations (flips, extra large holes) are drawn from a generator
seeded by ``(seed, epoch, index)``: an epoch is reproducible in any worker and after a resume,
yet each epoch sees new holes (call :meth:`set_epoch`, as for ``DistributedSampler``).
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from depth_completion_ros.classical import classical_fill
from depth_completion_ros.config_keys import reject_unknown_keys
from depth_completion_ros.datasets import Frame, discover_frames, load_frame, parse_frame_range
from depth_completion_ros.geometry import crop, fit_box, resize_color, resize_depth
from depth_completion_ros.holes import PRESETS, HoleSimulator, hide_regions
from depth_completion_ros.interpolation import midpoint_fill
from depth_completion_ros.metrics import MIN_GT_DEPTH

#: The network's input size (width, height) for Matterport3D and the shipped models.
DEFAULT_SIZE = (320, 256)

TrainingItem = dict[str, torch.Tensor]


def read_split(path: str | os.PathLike[str]) -> list[str]:
    """Names listed one per line in a split file (blank lines and ``#`` comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such split file")
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    names = [name for name in names if name]
    if not names:
        raise ValueError(f"{path}: split file lists no scenes or frames")
    return names


def select_frames(frames: Sequence[Frame], names: Sequence[str]) -> list[Frame]:
    """Frames whose name, or whose scene (the part before the first ``/``), is in ``names``.

    A listed name that matches nothing is an error: a typo in a split file must not silently
    shrink the training set.
    """
    wanted = set(names)
    selected = [f for f in frames if f.name in wanted or f.name.split("/", 1)[0] in wanted]
    found = {f.name for f in selected} | {f.name.split("/", 1)[0] for f in selected}
    missing = sorted(wanted - found)
    if missing:
        raise ValueError(f"split names not found in the dataset: {', '.join(missing[:5])}"
                         + (f" and {len(missing) - 5} more" if len(missing) > 5 else ""))
    return selected


def fit_to_size(
    depth: np.ndarray, rgb: np.ndarray | None, size: tuple[int, int], gt: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Centre-crop to the ``size`` aspect ratio, then resize (depth nearest, colour area/bilinear).

    This is what the inference pipeline does with ``fit="crop"``, so training sees frames the
    way the node will.
    """
    width, height = size
    box = fit_box(depth.shape[1], depth.shape[0], width / height)

    def fit_depth(image: np.ndarray) -> np.ndarray:
        return resize_depth(crop(image, box), width, height, mode="nearest")

    return (
        fit_depth(depth),
        resize_color(crop(rgb, box), width, height) if rgb is not None else None,
        fit_depth(gt) if gt is not None else None,
    )


def hole_simulator(spec: str | Mapping[str, Any] | HoleSimulator) -> HoleSimulator:
    """A :class:`HoleSimulator` from a preset name (``holes.PRESETS``), a config mapping or itself."""
    if isinstance(spec, HoleSimulator):
        return spec
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown hole preset {spec!r} (use one of {', '.join(PRESETS)} or a mapping)")
        return PRESETS[spec]
    return HoleSimulator.from_dict(spec)


@dataclass
class Augmentation:
    """Training-time randomisation.

    ``flip``: horizontal flips with probability 0.5. ``extra_holes``: probability of punching
    extra realistic holes from ``holes`` (a :class:`HoleSimulator`; the ``large`` preset by
    default) into the input: the large-hole augmentation for the seed's problem 3, where the
    network must complete whole missing surfaces rather than thin gaps. ``crop`` (W, H): train
    on random crops of the fitted frame; the network is fully convolutional, so crops keep the
    pixel scale of the full frame at a fraction of the cost (sizes must suit the network stride).
    """

    flip: bool = True
    extra_holes: float = 0.0
    holes: HoleSimulator = field(default_factory=lambda: PRESETS["large"])
    crop: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.extra_holes <= 1.0:
            raise ValueError(f"extra_holes is a probability in [0, 1], got {self.extra_holes}")
        if self.crop is not None:
            if len(self.crop) != 2 or min(self.crop) <= 0:
                raise ValueError(f"crop must be (width, height) > 0, got {self.crop}")
            self.crop = (int(self.crop[0]), int(self.crop[1]))

    @classmethod
    def from_dict(cls, config: Mapping[str, Any]) -> Augmentation:
        """From a config mapping: ``flip``, ``extra_holes``, ``holes`` (preset name or mapping), ``crop``."""
        reject_unknown_keys(config, ("flip", "extra_holes", "holes", "crop"), "augmentation")
        options = dict(config)
        if "holes" in options:
            options["holes"] = hole_simulator(options["holes"])
        return cls(**options)

    def random_crop(
        self, rng: np.random.Generator, rgb: np.ndarray | None, maps: Mapping[str, np.ndarray]
    ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """The same random ``crop`` window of the colour image (if any) and of every depth map."""
        if self.crop is None:
            return rgb, dict(maps)
        height, width = next(iter(maps.values())).shape[:2]
        crop_w, crop_h = self.crop
        if crop_w > width or crop_h > height:
            raise ValueError(f"crop {crop_w}x{crop_h} is larger than the {width}x{height} frame")
        box = (int(rng.integers(width - crop_w + 1)), int(rng.integers(height - crop_h + 1)), crop_w, crop_h)
        return (None if rgb is None else crop(rgb, box)), {key: crop(image, box) for key, image in maps.items()}


class DepthCompletionDataset(Dataset[TrainingItem]):
    """Shared machinery: seeded per-item randomness, the pipeline's input preparation,
    augmentation and tensor conversion.

    ``interpolate`` runs the seed's midpoint pre-pass on the input, as
    :class:`~depth_completion_ros.pipeline.DepthCompleter` does before the network (on by
    default there too), so the network trains on the inputs it will see.
    """

    def __init__(
        self,
        size: tuple[int, int],
        augmentation: Augmentation | None,
        seed: int,
        max_depth: float | None,
        interpolate: bool,
        with_prior: bool = False,
    ) -> None:
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"size must be (width, height) > 0, got {size}")
        self.size = (int(size[0]), int(size[1]))
        self.augmentation = augmentation
        self.seed = int(seed)
        self.max_depth = max_depth
        self.interpolate = interpolate
        self.with_prior = with_prior
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw a new, reproducible set of augmentations for ``epoch``."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def make_item(
        self,
        rgb: np.ndarray | None,
        depth: np.ndarray,
        target: np.ndarray,
        rng: np.random.Generator,
    ) -> TrainingItem:
        """One frame at its native resolution -> network-sized tensors, in the pipeline's order:
        extra holes, midpoint pre-pass, fit (crop to aspect + nearest resize) or, with
        ``with_prior``, the classical fill as prior at native resolution; then random crop and
        flip. Targets at or below 0.1 m (or beyond ``max_depth``) are not supervised."""
        target = np.where(target > MIN_GT_DEPTH, target, 0.0).astype(np.float32)
        if self.max_depth is not None:
            target[target > self.max_depth] = 0.0
        aug = self.augmentation
        if aug is not None and aug.extra_holes > 0 and rng.random() < aug.extra_holes:
            depth = np.where(aug.holes(depth, rgb, rng=rng), np.float32(0.0), depth)
        if self.interpolate:
            depth = midpoint_fill(depth)
        if self.with_prior:
            maps = {"depth": depth, "target": target, "prior": classical_fill(depth, rgb)}
        else:
            depth, rgb, fitted_target = fit_to_size(depth, rgb, self.size, gt=target)
            assert fitted_target is not None  # a target in, a target out
            maps = {"depth": depth, "target": fitted_target}
        if aug is not None:
            rgb, maps = aug.random_crop(rng, rgb, maps)
            if aug.flip and rng.random() < 0.5:
                maps = {key: value[:, ::-1] for key, value in maps.items()}
                rgb = rgb[:, ::-1] if rgb is not None else None
        if rgb is None:
            rgb_tensor = torch.zeros(3, *maps["depth"].shape, dtype=torch.float32)
        else:
            rgb_tensor = torch.from_numpy(np.ascontiguousarray(rgb).transpose(2, 0, 1).astype(np.float32) / 255.0)
        item = {"rgb": rgb_tensor}
        for key, value in maps.items():
            item[key] = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))[None]
        return item


class GroundTruthDataset(DepthCompletionDataset):
    """Frames with ground truth (Matterport3D, ClearGrasp): input = raw, target = GT > 0.1 m."""

    def __init__(
        self,
        frames: Sequence[Frame],
        size: tuple[int, int] = DEFAULT_SIZE,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        max_depth: float | None = None,
        interpolate: bool = True,
        with_prior: bool = False,
    ) -> None:
        super().__init__(size, augmentation, seed, max_depth, interpolate, with_prior)
        missing = [f.name for f in frames if f.gt is None]
        if missing:
            raise ValueError(f"{len(missing)} frames have no ground truth (first: {missing[0]})")
        if not frames:
            raise ValueError("no frames to train on")
        self.frames = list(frames)

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> TrainingItem:
        sample = load_frame(self.frames[index])
        assert sample.gt is not None  # every frame was checked to have ground truth
        return self.make_item(sample.rgb, sample.depth, sample.gt, self.rng(index))


def matterport_dataset(
    root: str | os.PathLike[str], split: str | os.PathLike[str] | None = None, **options: Any
) -> GroundTruthDataset:
    """The Matterport3D benchmark layout; ``split`` is a file of scene or frame names (none = all).

    Raw depth below ``datasets.MATTERPORT_MIN_DEPTH`` (the resize rim) is already invalid when
    :func:`load_frame` returns it; ground truth counts from 0.1 m.
    """
    frames = discover_frames(root, layout="matterport")
    if split is not None:
        frames = select_frames(frames, read_split(split))
    return GroundTruthDataset(frames, **options)


class SyntheticDataset(DepthCompletionDataset):
    """Procedural scenes with exact ground truth and sensor-like raw depth.

    Item ``i`` is ``synthetic.generate_sample(seed=base_seed + i, kind=scene)``: the same index
    gives the same scene in every run and worker, and two datasets with distant ``base_seed``
    values are disjoint (training vs validation). ``scene`` is one of ``synthetic.SCENE_KINDS``
    (``room``: indoor rooms; ``tabletop``: objects of glass, shiny and dark materials on a table
    before a RealSense-like sensor). With ``renew`` every epoch draws new scenes (item ``i`` of
    epoch ``e`` is scene ``base_seed + e * length + i``): ``length`` is then the share of an
    epoch in a mixture, not the number of scenes ever seen.
    """

    def __init__(
        self,
        length: int,
        base_seed: int = 0,
        size: tuple[int, int] = DEFAULT_SIZE,
        augmentation: Augmentation | None = None,
        max_depth: float | None = None,
        interpolate: bool = True,
        with_prior: bool = False,
        scene: str = "room",
        renew: bool = False,
    ) -> None:
        from depth_completion_ros.synthetic import SCENE_KINDS

        super().__init__(size, augmentation, base_seed, max_depth, interpolate, with_prior)
        if length <= 0:
            raise ValueError(f"synthetic dataset length must be positive, got {length}")
        if scene not in SCENE_KINDS:
            raise ValueError(f"unknown synthetic scene {scene!r} (use one of {', '.join(SCENE_KINDS)})")
        self.length = int(length)
        self.base_seed = int(base_seed)
        self.scene = scene
        self.renew = renew

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> TrainingItem:
        from depth_completion_ros.synthetic import generate_sample

        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} synthetic samples")
        first = self.base_seed + (self.epoch * self.length if self.renew else 0)
        sample = generate_sample(seed=first + index, width=self.size[0], height=self.size[1], kind=self.scene)
        return self.make_item(sample.rgb, sample.raw, sample.gt, self.rng(index))


class SelfSupervisedDataset(DepthCompletionDataset):
    """Raw recordings without ground truth: hide realistic regions, learn to restore them.

    Input = raw with extra regions hidden by :func:`holes.hide_regions` (``hide_fraction`` of the
    valid pixels, shaped by the ``holes`` simulator: a preset name or mapping); target = the
    raw depth on the hidden pixels, and also on the observed ones with ``supervise_observed``
    (keeps the network faithful to its input). Pixels the sensor never measured are not
    supervised. ``frames`` is a frame folder's ``discover_frames`` list (or a slice of it).
    """

    def __init__(
        self,
        frames: Sequence[Frame],
        size: tuple[int, int] = DEFAULT_SIZE,
        hide_fraction: tuple[float, float] = (0.1, 0.3),
        holes: str | Mapping[str, Any] | HoleSimulator = "sensor",
        supervise_observed: bool = False,
        augmentation: Augmentation | None = None,
        seed: int = 0,
        max_depth: float | None = None,
        interpolate: bool = True,
        with_prior: bool = False,
    ) -> None:
        super().__init__(size, augmentation, seed, max_depth, interpolate, with_prior)
        if not frames:
            raise ValueError("no frames to train on")
        self.frames = list(frames)
        self.hide_fraction = (float(hide_fraction[0]), float(hide_fraction[1]))
        self.holes = hole_simulator(holes)
        self.supervise_observed = supervise_observed

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> TrainingItem:
        sample = load_frame(self.frames[index])
        raw, rgb = sample.depth, sample.rgb
        rng = self.rng(index)
        # Hidden at the recording's resolution, as the evaluation's hidden-region protocol does.
        depth, hidden = hide_regions(raw, rng, fraction=self.hide_fraction, simulator=self.holes, rgb=rgb)
        target = raw if self.supervise_observed else np.where(hidden, raw, np.float32(0.0))
        return self.make_item(rgb, depth, target, rng)


class EpochDataset(Protocol):
    """What a mixture needs of a part: a length, items, and the epoch that seeds their randomness."""

    epoch: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> TrainingItem: ...

    def set_epoch(self, epoch: int) -> None: ...


class MixtureDataset(Dataset[TrainingItem]):
    """Several datasets as one: part ``i`` appears ``repeats[i]`` times per epoch (its share).

    The training sampler shuffles over the whole mixture. A later training stage adds a part
    (fused references, new synthetic scenes) to the config and resumes: the step count, model
    and optimizer carry on, and the new epoch permutation covers the larger set.
    """

    def __init__(self, parts: Sequence[EpochDataset], repeats: Sequence[int]) -> None:
        if not parts or len(parts) != len(repeats) or min(repeats) < 1:
            raise ValueError(f"a mixture needs parts and one repeat count >= 1 per part, got {len(parts)} parts "
                             f"and repeats {list(repeats)}")
        self.parts = list(parts)
        self.repeats = [int(r) for r in repeats]
        self.offsets = np.cumsum([0] + [len(part) * r for part, r in zip(self.parts, self.repeats, strict=True)])
        self.epoch = 0

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def set_epoch(self, epoch: int) -> None:
        """Set ``epoch`` on every part (a mixture is itself a valid part of a larger one)."""
        self.epoch = int(epoch)
        for part in self.parts:
            part.set_epoch(epoch)

    def part_of(self, index: int) -> int:
        """Which part item ``index`` comes from (validation scores each part on its own)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a mixture of {len(self)} items")
        return int(np.searchsorted(self.offsets, index, side="right")) - 1

    def __getitem__(self, index: int) -> TrainingItem:
        part = self.part_of(index)
        local = int(index - self.offsets[part])
        # Repeats of a part are distinct items (other holes, crops): shift the seed per repeat.
        dataset = self.parts[part]
        repeat, local = divmod(local, len(dataset))
        if repeat == 0:
            return dataset[local]
        epoch = dataset.epoch
        dataset.set_epoch(epoch + 1_000_003 * repeat)
        try:
            return dataset[local]
        finally:
            dataset.set_epoch(epoch)


#: What :func:`build_dataset` makes: every kind has a length and ``set_epoch``.
TrainingSet = GroundTruthDataset | SyntheticDataset | SelfSupervisedDataset | MixtureDataset
#: Keys every dataset spec but a mixture may hold, and the keys of each kind (a misspelt key is
#: an error, not a silent default).
COMMON_DATASET_KEYS = ("kind", "size", "max_depth", "interpolate", "with_prior", "augmentation")
BAG_KEYS = ("bag", "cache_dir", "depth_topic", "color_topic", "info_topic")
DATASET_KEYS = {
    "synthetic": (*COMMON_DATASET_KEYS, "length", "base_seed", "scene", "renew"),
    "matterport": (*COMMON_DATASET_KEYS, "seed", "root", "split"),
    "ground_truth": (*COMMON_DATASET_KEYS, "seed", "root", "layout", "frames"),
    "self_supervised": (*COMMON_DATASET_KEYS, "seed", "root", "layout", "frames", "hide_fraction", "holes",
                        "supervise_observed", *BAG_KEYS),
    "mixture": ("kind", "parts", "shared"),
}
DATASET_KINDS = tuple(DATASET_KEYS)


def frames_from_bag(
    bag: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    depth_topic: str,
    color_topic: str | None = None,
    info_topic: str | None = None,
) -> Path:
    """A rosbag2 recording as a ``frame-XXXXXX`` folder, extracted once into ``cache_dir``.

    Training reads every frame many times in random order, which a bag (sequential, compressed
    chunks) does badly; :func:`bags.bag_to_frames` writes the depth/colour pairs (matched by
    stamp) once, and later runs reuse the folder.
    """
    from depth_completion_ros.bags import bag_to_frames

    cache_dir = Path(cache_dir)
    if cache_dir.is_dir() and next(cache_dir.glob("frame-*.depth.png"), None) is not None:
        return cache_dir
    bag_to_frames(bag, cache_dir, depth_topic=depth_topic, color_topic=color_topic, info_topic=info_topic)
    return cache_dir


def check_dataset_spec(spec: Mapping[str, Any]) -> None:
    """ValueError for a spec with an unknown ``kind`` or a key its kind does not read
    (:data:`DATASET_KEYS`; a mixture's parts too), without building anything: a training config
    is checked when it is loaded, not when the data loader first needs the set."""
    kind = spec.get("kind")
    if kind not in DATASET_KINDS:
        raise ValueError(f"dataset kind must be one of {', '.join(DATASET_KINDS)}, got {kind!r}")
    reject_unknown_keys(spec, DATASET_KEYS[kind], f"{kind} dataset")
    if kind == "mixture":
        shared = spec.get("shared") or {}
        for index, part in enumerate(spec.get("parts") or ()):
            if not isinstance(part, Mapping):
                raise ValueError(f"mixture part {index} must be a dataset spec (a mapping), got {part!r}")
            merged = {key: value for key, value in {**shared, **part}.items() if key != "repeat"}
            try:
                check_dataset_spec(merged)
            except ValueError as exc:
                raise ValueError(f"mixture part {index} ({merged.get('kind')}): {exc}") from exc


def build_dataset(spec: Mapping[str, Any]) -> TrainingSet:
    """A dataset from a config mapping (the ``data``/``val`` sections of a training config).

    Common keys: ``kind`` (one of :data:`DATASET_KINDS`), ``size`` [W, H], ``augmentation``
    (:meth:`Augmentation.from_dict`), ``max_depth``, ``seed``, ``interpolate`` (midpoint pre-pass,
    default on like the pipeline). Per kind:
    ``synthetic``: ``length``, ``base_seed``, ``scene`` (room | tabletop), ``renew``;
    ``matterport``: ``root``, ``split``;
    ``ground_truth``: ``root``, ``layout``, ``frames`` (START:STOP); ``self_supervised``: ``root``
    (a frame folder) or ``bag`` + ``depth_topic`` [+ ``color_topic``, ``info_topic``] +
    ``cache_dir`` (see :func:`frames_from_bag`), ``layout``, ``frames``, ``hide_fraction``,
    ``holes``, ``supervise_observed`` (:data:`DATASET_KEYS`; any other key is an error).
    """
    check_dataset_spec(spec)
    options = dict(spec)
    kind = options.pop("kind")
    if kind == "mixture":
        return mixture_dataset(options)
    common: dict[str, Any] = {
        "size": tuple(options.pop("size", DEFAULT_SIZE)),
        "max_depth": options.pop("max_depth", None),
        "interpolate": bool(options.pop("interpolate", True)),
        "with_prior": bool(options.pop("with_prior", False)),
    }
    augmentation = options.pop("augmentation", None)
    if augmentation:
        common["augmentation"] = Augmentation.from_dict(augmentation)
    if kind == "synthetic":
        dataset: TrainingSet = SyntheticDataset(
            int(options.pop("length")), base_seed=int(options.pop("base_seed", 0)),
            scene=str(options.pop("scene", "room")), renew=bool(options.pop("renew", False)), **common
        )
    else:
        common["seed"] = int(options.pop("seed", 0))
        root = options.pop("root", None)
        if kind == "self_supervised" and options.get("bag") is not None:
            if root is not None:
                raise ValueError("give either 'root' (a frame folder) or 'bag', not both")
            bag_options = {key: options.pop(key, None) for key in BAG_KEYS}
            for key in ("cache_dir", "depth_topic"):
                if bag_options[key] is None:
                    raise ValueError(f"a self-supervised dataset from a bag needs '{key}'")
            root = frames_from_bag(**bag_options)
        if root is None:
            raise ValueError(f"dataset kind {kind!r} needs a 'root' folder")
        if kind == "matterport":
            dataset = matterport_dataset(root, split=options.pop("split", None), **common)
        else:
            frames = discover_frames(root, layout=options.pop("layout", "auto"))
            frames = [frames[i] for i in parse_frame_range(options.pop("frames", None), len(frames))]
            if kind == "ground_truth":
                dataset = GroundTruthDataset(frames, **common)
            else:
                for key in ("hide_fraction", "holes", "supervise_observed"):
                    if key in options:
                        common[key] = options.pop(key)
                dataset = SelfSupervisedDataset(frames, **common)
    return dataset


def mixture_dataset(options: Mapping[str, Any]) -> MixtureDataset:
    """``kind: mixture``: ``parts`` (dataset specs, each with an optional ``repeat``, default 1)
    and ``shared`` (keys every part gets unless it sets them, e.g. ``with_prior``, ``augmentation``)."""
    parts, shared = options.get("parts"), dict(options.get("shared") or {})
    if not parts:
        raise ValueError("a mixture dataset needs a non-empty 'parts' list")
    datasets: list[EpochDataset] = []
    repeats: list[int] = []
    for index, part in enumerate(parts):
        part = {**shared, **part}
        repeats.append(int(part.pop("repeat", 1)))
        try:
            datasets.append(build_dataset(part))
        except (ValueError, FileNotFoundError) as exc:
            raise type(exc)(f"mixture part {index} ({part.get('kind')}, {part.get('root', '')}): {exc}") from exc
    return MixtureDataset(datasets, repeats)
