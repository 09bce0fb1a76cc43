"""Training code: losses, schedules, datasets on generated data folders, a short run that resumes."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from depth_completion_ros.bags import CameraTopics, frames_to_bag
from depth_completion_ros.datasets import MATTERPORT_MIN_DEPTH, discover_frames, load_frame
from depth_completion_ros.interpolation import midpoint_fill
from depth_completion_ros.metrics import MIN_GT_DEPTH
from depth_completion_ros.model import build_model, load_checkpoint, read_checkpoint, save_checkpoint
from training.checks import passes_flat_wall_check
from training.config import TrainingConfig, load_training_config
from training.curves import main as curves_main
from training.curves import running_mean
from training.datasets import (
    Augmentation,
    SelfSupervisedDataset,
    SyntheticDataset,
    build_dataset,
    matterport_dataset,
    parse_frame_range,
)
from training.losses import LossConfig, masked_depth_loss, plane_distribution_loss, plane_targets
from training.release import main as release_main
from training.schedules import ScheduleConfig, StepDecay, WarmupCosine, build_scheduler
from training.train import TRAINING_STATE_KEY, anchor_loss, collate_frames, stored_training_config, validate
from training.train import main as train_main

# ----------------------------------------------------------------------------- losses


def _hand_made() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """2x3 case: target invalid at (1, 0); input observed only at (0, 0); pred inf where invalid."""
    pred = torch.tensor([[[[3.0, 2.0, 5.0], [float("inf"), 1.0, 4.0]]]], requires_grad=True)
    target = torch.tensor([[[[1.0, 2.0, 4.0], [0.0, 3.0, 4.0]]]])
    depth = torch.tensor([[[[1.0, 0.0, 4.0], [0.0, 0.0, 0.0]]]])
    return pred, target, depth


def test_masked_l1_averages_valid_pixels_only():
    pred, target, depth = _hand_made()
    # valid: (0,0) err 2 observed, (0,1) err 0 hole, (0,2) err 1 observed, (1,1) err 2 hole, (1,2) err 0 hole
    loss = masked_depth_loss(pred, target, depth)
    assert loss.item() == pytest.approx((2 + 0 + 1 + 2 + 0) / 5)
    loss.backward()
    assert pred.grad[0, 0, 1, 0] == 0 and torch.isfinite(pred.grad).all()  # the invalid pixel gets no gradient
    assert pred.grad[0, 0, 0, 0] == pytest.approx(1 / 5)


def test_hole_weighting_and_other_kinds():
    pred, target, depth = _hand_made()
    weighted = masked_depth_loss(pred, target, depth, LossConfig(hole_weight=3.0))
    assert weighted.item() == pytest.approx((2 + 1 + 3 * (0 + 2 + 0)) / (2 + 3 * 3))
    holes_only = masked_depth_loss(pred, target, depth, LossConfig(observed_weight=0.0))
    assert holes_only.item() == pytest.approx(2 / 3)
    l2 = masked_depth_loss(pred, target, depth, LossConfig(kind="l2"))
    assert l2.item() == pytest.approx((4 + 0 + 1 + 4 + 0) / 5)
    huber = masked_depth_loss(pred, target, depth, LossConfig(kind="smooth_l1", beta=0.5))
    assert huber.item() == pytest.approx(((2 - 0.25) + (1 - 0.25) + (2 - 0.25)) / 5)


def test_loss_without_valid_target_is_zero_with_gradient():
    pred = torch.ones(1, 1, 2, 2, requires_grad=True)
    loss = masked_depth_loss(pred, torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2))
    loss.backward()
    assert loss.item() == 0 and torch.equal(pred.grad, torch.zeros_like(pred))


def test_plane_targets_and_distribution_loss():
    planes = torch.linspace(0.0, 10.0, 16)
    target = torch.tensor([[[[0.0, 1.0], [3.3, 12.0]]]])
    two_hot = plane_targets(target, planes)
    assert torch.allclose(two_hot.sum(dim=1), torch.ones(1, 2, 2))
    assert torch.allclose((two_hot * planes.view(1, -1, 1, 1)).sum(dim=1)[0, 0], torch.tensor([0.0, 1.0]))
    assert two_hot[0, -1, 1, 1] == 1.0  # beyond the last plane: all mass on it
    assert (two_hot > 0).sum(dim=1).max() == 2  # never more than two planes
    # The cross-entropy is smallest for the two-hot distribution itself.
    depth = torch.zeros_like(target)
    target[0, 0, 0, 0] = 2.0
    exact = plane_distribution_loss(plane_targets(target, planes), target, depth, planes)
    blurred = plane_distribution_loss(torch.full((1, 16, 2, 2), 1 / 16), target, depth, planes)
    assert exact < blurred and blurred.item() == pytest.approx(np.log(16), rel=1e-5)


def test_loss_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown loss kind"):
        LossConfig(kind="l3")
    with pytest.raises(ValueError, match="not both 0"):
        LossConfig(hole_weight=0.0, observed_weight=0.0)
    with pytest.raises(ValueError, match="must match"):
        masked_depth_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3), torch.zeros(1, 1, 2, 2))
    with pytest.raises(ValueError, match="anchor_weight must be >= 0"):
        LossConfig(anchor_weight=-0.1)


# ----------------------------------------------------------------------------- schedules


def test_step_schedule_halves_every_twenty_epochs():
    decay = StepDecay(period_steps=20 * 10, gamma=0.5)
    assert [decay(s) for s in (0, 199, 200, 399, 400)] == [1.0, 1.0, 0.5, 0.5, 0.25]
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, ScheduleConfig(kind="step", step_epochs=2, gamma=0.5), steps_per_epoch=3,
                                total_steps=12)
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == [1.0] * 6 + [0.5] * 6


def test_warmup_cosine():
    schedule = WarmupCosine(warmup_steps=4, total_steps=104, min_ratio=0.1)
    assert schedule(0) == pytest.approx(0.25) and schedule(3) == pytest.approx(1.0)
    assert schedule(54) == pytest.approx(0.55) and schedule(104) == pytest.approx(0.1)
    values = [schedule(s) for s in range(4, 105)]
    assert all(a >= b for a, b in itertools.pairwise(values))
    with pytest.raises(ValueError, match="unknown schedule"):
        ScheduleConfig(kind="poly")


# ----------------------------------------------------------------------------- datasets


def test_matterport_dataset(generated_matterport, tmp_path):
    dataset = matterport_dataset(generated_matterport)
    assert len(dataset) == 3
    item = dataset[0]
    assert item["rgb"].shape == (3, 256, 320) and item["depth"].shape == item["target"].shape == (1, 256, 320)
    assert item["rgb"].min() >= 0 and item["rgb"].max() <= 1
    observed = item["depth"][item["depth"] > 0]
    assert observed.min() >= MATTERPORT_MIN_DEPTH  # the resize rim is not fed to the network
    assert item["target"][item["target"] > 0].min() > MIN_GT_DEPTH

    # Nearest-neighbour resizing: every value of the smaller input is a value of the original.
    small = matterport_dataset(generated_matterport, size=(160, 128), interpolate=False)[0]
    original = load_frame(dataset.frames[0]).depth
    assert small["depth"].shape == (1, 128, 160)
    assert np.isin(small["depth"].numpy(), original).all()
    # By default the input gets the pipeline's midpoint pre-pass, as at inference.
    np.testing.assert_array_equal(item["depth"][0].numpy(), midpoint_fill(original))

    scene = dataset.frames[0].name.split("/")[0]
    split = tmp_path / "split.txt"
    split.write_text(f"# one scene\n{scene}\n")
    selected = matterport_dataset(generated_matterport, split=split)
    assert 0 < len(selected) < 3 and all(f.name.startswith(scene + "/") for f in selected.frames)
    split.write_text("no_such_scene\n")
    with pytest.raises(ValueError, match="no_such_scene"):
        matterport_dataset(generated_matterport, split=split)


def test_large_hole_augmentation_is_seeded_per_epoch(generated_matterport):
    augmentation = Augmentation(flip=False, extra_holes=1.0)
    dataset = matterport_dataset(generated_matterport, augmentation=augmentation, interpolate=False)
    plain = matterport_dataset(generated_matterport, interpolate=False)[1]
    first, again = dataset[1], dataset[1]
    assert torch.equal(first["depth"], again["depth"]) and torch.equal(first["target"], plain["target"])
    # extra holes only remove input depth, never change a kept value
    assert (first["depth"] > 0).sum() < (plain["depth"] > 0).sum()
    kept = first["depth"] > 0
    assert torch.equal(first["depth"][kept], plain["depth"][kept])
    dataset.set_epoch(1)
    assert not torch.equal(dataset[1]["depth"], first["depth"])


def test_self_supervised_dataset_hides_and_targets_raw(generated_kitchen):
    frames = discover_frames(generated_kitchen)
    train_frames = [frames[i] for i in parse_frame_range("0:4", len(frames))]
    train = SelfSupervisedDataset(train_frames, hide_fraction=(0.2, 0.2), interpolate=False)
    item = train[3]
    # With observed pixels supervised too, the target is the whole fitted raw frame.
    raw = SelfSupervisedDataset(frames[3:4], supervise_observed=True, interpolate=False)[0]
    hidden = item["target"] > 0
    assert hidden.float().mean() > 0.05
    assert (item["depth"][hidden] == 0).all()  # the network never sees what it is scored on
    assert torch.equal(item["target"][hidden], raw["target"][hidden])
    assert torch.equal(item["rgb"], raw["rgb"])
    visible = item["depth"] > 0
    assert torch.equal(item["depth"][visible], raw["target"][visible])
    assert (raw["target"] > 0).sum() == hidden.sum() + visible.sum()


def test_self_supervised_dataset_from_a_rosbag(generated_kitchen, tmp_path):
    frames = discover_frames(generated_kitchen)[:3]
    frames_to_bag(frames, tmp_path / "bag", progress=False)
    topics = CameraTopics()
    spec = {"kind": "self_supervised", "bag": str(tmp_path / "bag"), "cache_dir": str(tmp_path / "frames"),
            "depth_topic": topics.depth, "color_topic": topics.color, "info_topic": topics.depth_info}
    from_bag = build_dataset(spec)
    from_folder = SelfSupervisedDataset(frames)
    assert len(from_bag) == 3
    for key in ("rgb", "depth", "target"):  # the same frames, bit for bit, and the same hidden regions
        assert torch.equal(from_bag[2][key], from_folder[2][key]), key
    assert len(build_dataset(spec)) == 3  # the second run reuses the extracted frames
    with pytest.raises(ValueError, match="needs 'cache_dir'"):
        build_dataset({"kind": "self_supervised", "bag": str(tmp_path / "bag"), "depth_topic": topics.depth})


def test_frame_ranges_are_disjoint_and_checked():
    train, evaluation = parse_frame_range("0:200", 300), parse_frame_range("220:300", 300)
    assert len(train) == 200 and len(evaluation) == 80 and not set(train) & set(evaluation)
    assert parse_frame_range(None, 5) == range(5) and list(parse_frame_range("-2:", 5)) == [3, 4]
    for bad in ("5", "a:b", "10:20"):
        with pytest.raises(ValueError):
            parse_frame_range(bad, 8)


def test_build_dataset_rejects_unknown_keys(generated_kitchen):
    with pytest.raises(ValueError, match=r"unknown self_supervised dataset keys \['colour'\]"):
        build_dataset({"kind": "self_supervised", "root": str(generated_kitchen), "frames": "0:2", "colour": 1})
    with pytest.raises(ValueError, match="kind must be one of"):
        build_dataset({"kind": "kitti"})


def test_synthetic_dataset_is_deterministic():
    augmentation = Augmentation(extra_holes=1.0)
    first = SyntheticDataset(4, base_seed=100, size=(64, 64), augmentation=augmentation)
    second = SyntheticDataset(4, base_seed=100, size=(64, 64), augmentation=augmentation)
    for key in ("rgb", "depth", "target"):
        assert torch.equal(first[2][key], second[2][key])
    assert not torch.equal(first[1]["target"], first[2]["target"])
    other = SyntheticDataset(4, base_seed=200, size=(64, 64))
    assert not torch.equal(other[0]["target"], first[0]["target"])
    assert first[0]["target"].shape == (1, 64, 64)
    with pytest.raises(IndexError):
        first[4]
    # Random crops keep the full frame's pixel scale: a window of the uncropped item.
    cropped = SyntheticDataset(4, base_seed=100, size=(64, 64), augmentation=Augmentation(flip=False, crop=(32, 32)))
    full = SyntheticDataset(4, base_seed=100, size=(64, 64))[1]["target"][0].numpy()
    window = cropped[1]["target"][0].numpy()
    assert window.shape == (32, 32)
    assert any(np.array_equal(full[y : y + 32, x : x + 32], window) for y in range(33) for x in range(33))
    with pytest.raises(ValueError, match="larger than"):
        SyntheticDataset(1, size=(64, 64), augmentation=Augmentation(crop=(96, 32)))[0]


# ----------------------------------------------------------------------------- the trainer


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "training" / "configs").glob("*.yaml")),
                         ids=lambda path: path.stem)
def test_shipped_configs_load_typed_and_round_trip(path):
    config = load_training_config(path)
    assert isinstance(config.optim.lr, float) and isinstance(config.train.seed, int)
    assert config.data.dataset["kind"] in ("synthetic", "matterport", "self_supervised", "mixture")
    # What checkpoints store loads back to the same config.
    assert TrainingConfig.from_mapping(config.to_dict()) == config


def test_config_stored_by_the_untyped_trainer_still_loads():
    """``last.pt`` files written before the typed config hold the merged-defaults dict (every key,
    ints where floats are meant); ``--resume`` reads them back through the same checks."""
    stored = {
        "model": "costdcnet_prior_cpu", "init": None,
        "data": {"batch_size": 4, "num_workers": 1, "kind": "mixture", "shared": {"with_prior": True},
                 "parts": [{"kind": "synthetic", "length": 300, "renew": True, "repeat": 2}]},
        "val": {"kind": "synthetic", "length": 8, "base_seed": 10000000, "every_steps": 100, "batch_size": 4},
        "loss": {"kind": "log_l1", "hole_weight": 1.0, "observed_weight": 0.0, "beta": 0.1, "plane_weight": 0.02},
        "optim": {"name": "adamw", "lr": 0.001, "weight_decay": 0.0001, "betas": [0.9, 0.999], "grad_clip": 1.0},
        "schedule": {"kind": "cosine", "step_epochs": 20, "gamma": 0.5, "warmup_steps": 50, "min_lr_ratio": 0.05},
        "train": {"epochs": 50, "max_steps": 8000, "seed": 0, "amp": False, "checkpoint_every": 25, "log_every": 5,
                  "out_dir": "runs/prior_cpu", "threads": 1, "working_scale": [1.0, 4.0]},
    }
    config = TrainingConfig.from_mapping(stored)
    assert config.schedule.step_epochs == 20.0 and isinstance(config.schedule.step_epochs, float)
    assert config.train.working_scale == (1.0, 4.0) and config.val is not None and config.val.every_steps == 100
    assert config.data.dataset == {key: stored["data"][key] for key in ("kind", "shared", "parts")}
    assert TrainingConfig.from_mapping(config.to_dict()) == config


def test_overrides_are_typed_and_checked_like_the_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"data": {"kind": "synthetic", "length": 8},
                                    "val": {"kind": "synthetic", "length": 2}, "optim": {"lr": 1e-3}}))
    config = load_training_config(path, ["optim.lr=2e-4", "data.size=[64, 64]", "val=null", "train.max_steps=1e3",
                                         "train.working_scale=[1, 4]"])
    assert config.optim.lr == 2e-4 and config.data.dataset["size"] == [64, 64] and config.val is None
    assert config.train.max_steps == 1000 and config.train.working_scale == (1.0, 4.0)
    assert config.loss.kind == "l1" and config.data.batch_size == 4  # absent sections and keys: defaults
    for overrides, message in ((["lr"], r"section\.key=value"),
                               (["optim.lrr=1"], r"unknown optim keys \['lrr'\]"),
                               (["optimizer.lr=1"], r"unknown training config keys \['optimizer'\]"),
                               (["train.amp=maybe"], r"train\.amp must be bool, got 'maybe'"),
                               (["train.seed=0.5"], r"train\.seed must be int"),
                               (["optim.betas=[0.9]"], r"optim\.betas must be a list of 2 values"),
                               (["data.colour=1"], r"data: unknown synthetic dataset keys \['colour'\]"),
                               (["optim.name=sgd"], "unknown optimizer 'sgd'")):
        with pytest.raises(ValueError, match=message) as raised:
            load_training_config(path, overrides)
        assert str(path) in str(raised.value) or overrides == ["lr"]
    with pytest.raises(ValueError, match=r"mixture part 1 \(synthetic\): unknown synthetic dataset keys \['root'\]"):
        load_training_config(path, ["data={kind: mixture, parts: [{kind: synthetic, length: 2}, "
                                    "{kind: synthetic, length: 2, root: x}]}"])



def test_overrides_address_list_items_and_remove_keys_for_ablations(tmp_path):
    """The real-hole ablation drops one mixture part of the shipped config by override."""
    shipped = Path(__file__).resolve().parents[1] / "training" / "configs" / "prior_cpu.yaml"
    parts = load_training_config(shipped).data.dataset["parts"]
    without = load_training_config(shipped, ["~data.parts.4", "data.parts.0.repeat=3", "~val"])
    assert without.data.dataset["parts"] == [{**parts[0], "repeat": 3}, *parts[1:4], *parts[5:]]
    assert without.val is None and parts[4]["layout"] == "fused"
    assert load_training_config(shipped, ["~data.parts.-1"]).data.dataset["parts"] == parts[:-1]
    for overrides, message in ((["~data.parts.9"], rf"'data\.parts' has {len(parts)} items, no item 9"),
                               (["data.parts.first.repeat=2"], r"'data\.parts' is a list; address its items by number"),
                               (["~optim.nothing"], r"there is no 'optim\.nothing' to remove"),
                               (["~optim.lr=1"], r"removes a key and takes no value")):
        with pytest.raises(ValueError, match=message):
            load_training_config(shipped, overrides)

def _tiny_config(tmp_path, out: str) -> list[str]:
    config = {
        "model": "costdcnet_cpu",
        "data": {"kind": "synthetic", "length": 4, "size": [64, 64], "batch_size": 2, "num_workers": 0,
                 "augmentation": {"extra_holes": 0.5}},
        "val": {"kind": "synthetic", "length": 2, "base_seed": 10_000, "size": [64, 64], "every_steps": 2},
        "loss": {"hole_weight": 2.0, "plane_weight": 0.2},
        "schedule": {"kind": "cosine", "warmup_steps": 1},
        "train": {"max_steps": 2, "log_every": 1, "checkpoint_every": 1},
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return ["--config", str(path), "--set", f"train.out_dir={tmp_path / out}"]


def test_two_steps_checkpoint_and_bit_exact_resume(tmp_path):
    assert train_main(_tiny_config(tmp_path, "straight")) == 0
    straight = tmp_path / "straight"
    for name in ("last.pt", "model.pt", "history.json", "loss_curve.png"):
        assert (straight / name).is_file(), name
    assert any((straight / "tensorboard").iterdir())
    model, meta = load_checkpoint(straight / "model.pt")
    assert meta["steps"] == 2 and meta["final_val"]["step"] == 2 and "training_state" not in meta

    # The same two steps, interrupted after one and resumed from the checkpoint.
    assert train_main([*_tiny_config(tmp_path, "split"), "--stop-after", "1"]) == 0
    assert not (tmp_path / "split" / "model.pt").exists()
    assert train_main([*_tiny_config(tmp_path, "split"), "--resume", str(tmp_path / "split" / "last.pt")]) == 0
    resumed, _ = load_checkpoint(tmp_path / "split" / "model.pt")
    expected = model.state_dict()
    for name, tensor in resumed.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    with pytest.raises(ValueError, match="no training state"):
        train_main([*_tiny_config(tmp_path, "again"), "--resume", str(straight / "model.pt")])
    # The checkpoint carries its config: --resume alone continues the run it came from.
    assert stored_training_config(straight / "last.pt") == load_training_config(tmp_path / "tiny.yaml",
                                                                                [f"train.out_dir={straight}"])

    # Both runs on one figure; the split run's history continued where it stopped.
    history = json.loads((tmp_path / "split" / "history.json").read_text())
    assert history["step"] == [1, 2] and [v["step"] for v in history["val"]] == [2]
    assert curves_main([f"straight={straight}", f"split={tmp_path / 'split'}", "--out", str(tmp_path / "cmp.png")]) == 0
    assert (tmp_path / "cmp.png").stat().st_size > 10_000


def test_running_mean():
    np.testing.assert_allclose(running_mean(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_amp_training_on_cuda(tmp_path):
    assert train_main([*_tiny_config(tmp_path, "cuda"), "train.amp=true", "--device", "cuda"]) == 0
    state = read_checkpoint(tmp_path / "cuda" / "last.pt")[TRAINING_STATE_KEY]
    assert state["scaler"]["scale"] > 0  # the GradScaler ran
    model, meta = load_checkpoint(tmp_path / "cuda" / "model.pt")
    assert meta["device"].startswith("cuda") and all(torch.isfinite(p).all() for p in model.parameters())


def test_logged_loss_after_resume_averages_only_the_steps_it_ran(tmp_path):
    # log_every=1: the loss of each of the two steps on its own.
    assert train_main(_tiny_config(tmp_path, "each")) == 0
    each = json.loads((tmp_path / "each" / "history.json").read_text())
    # log_every=2, stopped after step 1 and resumed: the step-2 entry covers step 2 alone.
    split = [*_tiny_config(tmp_path, "split"), "train.log_every=2"]  # a second --set value
    assert train_main([*split, "--stop-after", "1"]) == 0
    assert train_main([*split, "--resume", str(tmp_path / "split" / "last.pt")]) == 0
    history = json.loads((tmp_path / "split" / "history.json").read_text())
    assert history["step"] == [1, 2]
    np.testing.assert_allclose(history["loss"], each["loss"], rtol=1e-6)


def test_a_failing_step_still_stops_the_tensorboard_writer(tmp_path, monkeypatch):
    import threading

    from training.train import Trainer

    def fail(self, batch):
        raise RuntimeError("injected failure")

    monkeypatch.setattr(Trainer, "train_step", fail)
    threads_before = set(threading.enumerate())
    with pytest.raises(RuntimeError, match="injected failure"):
        train_main(_tiny_config(tmp_path, "failing"))
    # tqdm's monitor is a process-wide daemon shared by every bar, not the run's to stop.
    left_running = [t.name for t in set(threading.enumerate()) - threads_before
                    if t.is_alive() and t.name != "tqdm_monitor"]
    assert left_running == []
    assert any((tmp_path / "failing" / "tensorboard").iterdir())


# ----------------------------------------------------------------------------- prior-anchored model


def test_log_l1_and_plane_targets_on_log_spaced_bins():
    pred = torch.tensor([[[[2.0, 0.5]]]])
    target = torch.tensor([[[[1.0, 1.0]]]])
    loss = masked_depth_loss(pred, target, torch.zeros_like(target), LossConfig(kind="log_l1"))
    assert loss.item() == pytest.approx(float(np.log(2.0)))  # a factor of two either way costs the same
    squared = masked_depth_loss(pred, target, torch.zeros_like(target), LossConfig(kind="log_l2"))
    assert squared.item() == pytest.approx(float(np.log(2.0)) ** 2)


def test_log_l2_is_minimised_by_the_mean_of_two_sides_where_log_l1_is_not():
    # One hole pixel seen twice with a target on either side of a depth step (1 m, 4 m): log_l2's
    # best single prediction is the geometric mean (2 m), log_l1 is flat between the two.
    target = torch.tensor([[[[1.0, 4.0]]]])
    candidates = torch.linspace(1.0, 4.0, 61)

    def loss_at(kind: str, depth: float) -> float:
        pred = torch.full_like(target, depth)
        return masked_depth_loss(pred, target, torch.zeros_like(target), LossConfig(kind=kind)).item()

    l2_losses = [loss_at("log_l2", float(d)) for d in candidates]
    assert float(candidates[int(np.argmin(l2_losses))]) == pytest.approx(2.0)
    l1_losses = [loss_at("log_l1", float(d)) for d in candidates]
    assert max(l1_losses) - min(l1_losses) < 1e-6
    offsets = torch.tensor([-0.4, -0.1, -0.02, 0.02, 0.1, 0.4])
    positions = torch.tensor([[[[0.0, 0.25, -1.0]]]])
    two_hot = plane_targets(positions, offsets)
    assert torch.allclose((two_hot * offsets.view(1, -1, 1, 1)).sum(dim=1)[0, 0, :2], positions[0, 0, 0, :2])
    assert two_hot[0, 0, 0, 2] == 1.0 and (two_hot > 0).sum(dim=1).max() == 2


def test_prior_items_carry_the_pipelines_classical_fill(generated_kitchen):
    from depth_completion_ros.classical import classical_fill

    options = {"frames": "0:2", "hide_fraction": [0.2, 0.2], "seed": 5}
    full = build_dataset({"kind": "self_supervised", "root": str(generated_kitchen), "with_prior": True, **options})
    item = full[1]
    assert item["prior"].shape == item["depth"].shape == (1, 480, 640)  # native resolution, no fit
    rgb = (item["rgb"] * 255).round().byte().permute(1, 2, 0).numpy()
    assert torch.equal(item["prior"][0], torch.from_numpy(classical_fill(item["depth"][0].numpy(), rgb)))
    cropped = build_dataset({"kind": "self_supervised", "root": str(generated_kitchen), "with_prior": True,
                             "augmentation": {"crop": [160, 128], "flip": False}, **options})[1]
    assert cropped["prior"].shape == cropped["depth"].shape == (1, 128, 160)


def test_mixture_shares_repeats_and_renewed_synthetic_scenes():
    parts = [{"kind": "synthetic", "length": 3, "size": [64, 64]},
             {"kind": "synthetic", "length": 2, "size": [64, 64], "base_seed": 100, "renew": True, "repeat": 2}]
    mixture = build_dataset({"kind": "mixture", "parts": parts, "shared": {"with_prior": True}})
    assert len(mixture) == 3 + 2 * 2
    first, repeated = mixture[3], mixture[5]  # the same renewed scene, second repeat: other holes/crops
    assert first["prior"].shape == (1, 64, 64) and first["target"].shape == (1, 64, 64)
    mixture.set_epoch(1)
    assert not torch.equal(mixture[3]["target"], first["target"])  # renew: a new scene next epoch
    assert torch.equal(mixture[0]["target"], build_dataset({**parts[0], "with_prior": True})[0]["target"])
    with pytest.raises(ValueError, match="mixture part 1"):
        build_dataset({"kind": "mixture", "parts": [parts[0], {"kind": "synthetic", "length": 0}]})
    with pytest.raises(IndexError):
        mixture[len(mixture)]
    assert repeated["prior"].shape == (1, 64, 64)


def _moving(model: torch.nn.Module, push: float) -> torch.nn.Module:
    """``model`` with its offset bias pushed towards the largest offset: every hole moves away."""
    with torch.no_grad():
        model.offset_bias.fill_(-push)
        model.offset_bias[-1] = push
    return model


def test_frame_path_settings_change_on_fine_tune_and_re_release(tmp_path, capsys):
    """Weights trained without the correction ramp fine-tune and re-release in the packaged config,
    which has it: same weights and metadata, the config's frame path. Weights of another
    architecture are refused with a message naming both, and nothing is written."""
    packaged = build_model("costdcnet_prior_cpu").config
    assert packaged.correction_ramp_cells > 0
    torch.manual_seed(0)
    old = build_model(packaged.replace(correction_ramp_cells=0))
    torch.nn.init.normal_(old.cost_volume.head.weight, std=0.01)
    source = save_checkpoint(tmp_path / "old.pt", old, steps=7)
    assert release_main([str(source), "--model-config", "costdcnet_prior_cpu",
                         "--output", str(tmp_path / "new.pt")]) == 0
    new, meta = load_checkpoint(tmp_path / "new.pt")
    assert new.config == packaged and meta == {"steps": 7}
    assert all(torch.equal(a, b) for a, b in zip(new.state_dict().values(), old.state_dict().values(), strict=True))
    assert release_main([str(source), "--output", str(tmp_path / "plain.pt")]) == 2
    assert "only with --model-config" in capsys.readouterr().err
    assert release_main([str(tmp_path / "nowhere.pt"), "--output", str(tmp_path / "plain.pt")]) == 2
    assert "nowhere.pt: not found" in capsys.readouterr().err
    assert release_main([str(source), "--model-config", "costdcnet_cpu", "--output", str(tmp_path / "cpu.pt")]) == 2
    assert "do not fit the model config 'costdcnet_cpu'" in capsys.readouterr().err
    assert not (tmp_path / "plain.pt").exists() and not (tmp_path / "cpu.pt").exists()
    config = {
        "model": "costdcnet_prior_cpu", "init": str(source),
        "data": {"kind": "synthetic", "length": 2, "size": [128, 96], "with_prior": True, "batch_size": 2,
                 "num_workers": 0},
        "val": None, "loss": {"kind": "log_l1", "observed_weight": 0.0},
        "train": {"max_steps": 1, "log_every": 1, "checkpoint_every": 1, "out_dir": str(tmp_path / "tuned")},
    }
    (tmp_path / "tune.yaml").write_text(yaml.safe_dump(config))
    assert train_main(["--config", str(tmp_path / "tune.yaml")]) == 0
    assert load_checkpoint(tmp_path / "tuned" / "model.pt")[0].config == packaged


def test_validation_scores_each_mixture_part_and_selects_by_the_worst(tmp_path):
    """On a mixture each part is scored on its own (the same figures as validating that part
    alone) and ``worst_part`` is the largest change against the prior; ``select_by:
    worst_part`` picks best.pt by it; a model without a prior cannot select so."""
    torch.manual_seed(0)
    model = build_model("costdcnet_prior_cpu")
    torch.nn.init.normal_(model.cost_volume.head.weight, std=0.3)
    spec = [{"kind": "synthetic", "length": 2, "base_seed": 500, "size": [128, 96], "with_prior": True},
            {"kind": "synthetic", "length": 3, "base_seed": 900, "size": [96, 64], "with_prior": True,
             "scene": "tabletop"}]
    loader = torch.utils.data.DataLoader(build_dataset({"kind": "mixture", "parts": spec}), batch_size=1,
                                         collate_fn=collate_frames)
    metrics = validate(model, loader, torch.device("cpu"))
    changes = []
    for index, part in enumerate(spec):
        alone = validate(model, torch.utils.data.DataLoader(build_dataset(part), batch_size=1,
                                                            collate_fn=collate_frames), torch.device("cpu"))
        assert metrics[f"part{index}_hole_rmse"] == pytest.approx(alone["hole_rmse"], rel=1e-6)
        assert metrics[f"part{index}_prior_hole_rmse"] == pytest.approx(alone["prior_hole_rmse"], rel=1e-6)
        changes.append(alone["hole_rmse"] / alone["prior_hole_rmse"] - 1)
    assert metrics["worst_part"] == pytest.approx(max(changes), rel=1e-6)

    config = {
        "model": "costdcnet_prior_cpu",
        "data": {"kind": "synthetic", "length": 4, "size": [128, 96], "with_prior": True, "batch_size": 2,
                 "num_workers": 0},
        "val": {"kind": "mixture", "parts": spec, "every_steps": 1, "batch_size": 1, "select_by": "worst_part"},
        "loss": {"kind": "log_l1", "observed_weight": 0.0},
        "train": {"max_steps": 3, "log_every": 1, "checkpoint_every": 1, "out_dir": str(tmp_path / "run")},
    }
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(config))
    assert train_main(["--config", str(tmp_path / "run.yaml")]) == 0
    history = json.loads((tmp_path / "run" / "history.json").read_text())["val"]
    _, meta = load_checkpoint(tmp_path / "run" / "best.pt")
    assert meta["val"]["worst_part"] == min(entry["worst_part"] for entry in history)
    config["model"] = "costdcnet_cpu"
    (tmp_path / "cpu.yaml").write_text(yaml.safe_dump({**config, "data": {**config["data"], "with_prior": False}}))
    with pytest.raises(ValueError, match="worst_part compares each part with the prior"):
        train_main(["--config", str(tmp_path / "cpu.yaml")])
    with pytest.raises(ValueError, match=r"val\.select_by must be one of hole_rmse, worst_part"):
        load_training_config(tmp_path / "run.yaml", ["val.select_by=mae"])


def test_anchor_loss_pulls_measured_pixels_back_to_their_measurement():
    """The anchor term scores the offset distribution at the measured working-resolution pixels:
    small for the freshly initialised model (its output is the prior, which the measurements
    match), large for one that moves every pixel, and its gradient pulls that one back."""
    item = build_dataset({"kind": "synthetic", "length": 1, "size": [128, 96], "with_prior": True,
                          "augmentation": {"extra_holes": 0.5}})[0]
    rgb, depth, prior = item["rgb"][None], item["depth"][None], item["prior"][None]
    fresh = build_model("costdcnet_prior_cpu")
    moving = _moving(build_model("costdcnet_prior_cpu"), 3.0)
    fresh_loss = anchor_loss(fresh.predict_full(rgb, depth, prior), fresh.offsets)
    moving_loss = anchor_loss(moving.predict_full(rgb, depth, prior), moving.offsets)
    assert moving_loss.item() > 3 * fresh_loss.item() > 0
    moving_loss.backward()
    assert moving.offset_bias.grad is not None and moving.offset_bias.grad[-1] > 0  # descent lowers it


def test_a_batch_of_mixed_frame_sizes_names_the_fix():
    """Whole frames of two cameras (a validation mixture) cannot share a batch: the message says
    what to change instead of torch.stack's size error."""
    parts = [{"kind": "synthetic", "length": 1, "size": [64, 48]}, {"kind": "synthetic", "length": 1, "size": [64, 36]}]
    mixture = build_dataset({"kind": "mixture", "parts": parts, "shared": {"with_prior": True}})
    with pytest.raises(ValueError, match=r"mixes frame sizes \(64x36, 64x48\).*batch_size: 1"):
        collate_frames([mixture[0], mixture[1]])
    assert collate_frames([mixture[0], mixture[0]])["depth"].shape == (2, 1, 48, 64)


def test_selection_skips_weights_that_fail_the_flat_wall_check():
    assert passes_flat_wall_check({"hole_rmse": 0.2})  # a run from before the check
    assert passes_flat_wall_check({"hole_rmse": 0.2, "flat_wall_error": 0.001})
    assert not passes_flat_wall_check({"hole_rmse": 0.1, "flat_wall_error": 0.3})


def test_prior_model_trains_and_resumes(tmp_path, monkeypatch):
    """A short run of the prior model: batches carry priors, working sizes are drawn per step,
    validation scores model and prior, best.pt is written, and resume is bit-exact."""
    config = {
        "model": "costdcnet_prior_cpu",
        "data": {"kind": "synthetic", "length": 4, "size": [128, 96], "with_prior": True, "batch_size": 2,
                 "num_workers": 0},
        "val": {"kind": "synthetic", "length": 2, "base_seed": 10_000, "size": [128, 96], "with_prior": True,
                "every_steps": 2},
        "loss": {"kind": "log_l1", "observed_weight": 0.0, "plane_weight": 0.05, "anchor_weight": 0.05},
        "schedule": {"kind": "cosine", "warmup_steps": 1},
        "train": {"max_steps": 2, "log_every": 1, "checkpoint_every": 1, "working_scale": [1.0, 3.0]},
    }
    path = tmp_path / "prior.yaml"
    path.write_text(yaml.safe_dump(config))
    arguments = ["--config", str(path)]
    assert train_main([*arguments, "--set", f"train.out_dir={tmp_path / 'straight'}"]) == 0
    history = json.loads((tmp_path / "straight" / "history.json").read_text())
    assert {"hole_rmse", "prior_hole_rmse", "flat_wall_error"} <= set(history["val"][-1])
    assert (tmp_path / "straight" / "best.pt").is_file()
    model, _ = load_checkpoint(tmp_path / "straight" / "model.pt")
    assert model.config.anchor == "prior" and model.cost_volume.head.weight.abs().sum() > 0  # it learned
    assert train_main([*arguments, "--set", f"train.out_dir={tmp_path / 'split'}", "--stop-after", "1"]) == 0
    # Resumed with the config the checkpoint stores (no --config).
    assert train_main(["--resume", str(tmp_path / "split" / "last.pt")]) == 0
    resumed, _ = load_checkpoint(tmp_path / "split" / "model.pt")
    for name, tensor in resumed.state_dict().items():
        assert torch.equal(tensor, model.state_dict()[name]), name

    # Released as the shipped files are: best.pt's weights, the card's metadata, the resume state.
    best, best_meta = load_checkpoint(tmp_path / "straight" / "best.pt")
    assert release_main([str(tmp_path / "straight"), "--output", str(tmp_path / "shipped.pt"),
                         "--resume-dir", str(tmp_path / "shipped_run"), "--machine", "test"]) == 0
    shipped, meta = load_checkpoint(tmp_path / "shipped.pt")
    for name, tensor in shipped.state_dict().items():
        assert torch.equal(tensor, best.state_dict()[name]), name
    assert meta["steps"] == best_meta["steps"] and meta["run_steps"] == 2 and meta["val"] == best_meta["val"]
    assert meta["resume_state"] == str(tmp_path / "shipped_run" / "last.pt")
    assert {"last.pt", "history.json", "loss_curve.png"} <= {f.name for f in (tmp_path / "shipped_run").iterdir()}
    assert release_main([str(tmp_path / "nowhere"), "--output", str(tmp_path / "x.pt")]) == 2
    assert not (tmp_path / "x.pt").exists()
    # Weights that move a small hole on a flat wall are refused: here every offset's logit but the
    # largest is pushed down, so the model scales each hole's prior by ~x1.96.
    shutil.copytree(tmp_path / "straight", tmp_path / "moving")
    save_checkpoint(tmp_path / "moving" / "best.pt", _moving(best, 30.0), **best_meta)
    assert release_main([str(tmp_path / "moving"), "--output", str(tmp_path / "refused.pt")]) == 2
    assert not (tmp_path / "refused.pt").exists()
    # The trainer itself never selects weights that fail the check.
    monkeypatch.setattr("training.train.model_flat_wall_error", lambda model: 0.3)
    assert train_main([*arguments, "--set", f"train.out_dir={tmp_path / 'failing'}"]) == 0
    assert json.loads((tmp_path / "failing" / "history.json").read_text())["val"][-1]["flat_wall_error"] == 0.3
    assert not (tmp_path / "failing" / "best.pt").exists() and (tmp_path / "failing" / "model.pt").is_file()
