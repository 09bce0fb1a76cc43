"""Depth-completion networks: configs, models, checkpoints (shared by node, export, training).

``CostDCNet`` is the paper's network (absolute depth planes); ``PriorCostDCNet`` refines a prior
depth (the classical fill) with offsets around it. :func:`build_model` picks by config.
"""
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint, with_config
from .config import ModelConfig, ModelConfigError, available_configs, load_model_config
from .costdcnet import CostDCNet, Prediction, depth_to_planes, placement_weights, plane_confidence
from .factory import NETWORKS, DepthNetwork, build_model
from .fused import fuse_for_inference
from .prior_costdcnet import FullResolutionPrediction, PriorCostDCNet, check_prior
from .refine import WorkingInference, refine_frames, refine_usable_frames
from .resolution import WorkingInputs, apply_correction, edge_aware_upsample, to_working_resolution, working_size

__all__ = [
    "NETWORKS",
    "CheckpointError",
    "CostDCNet",
    "DepthNetwork",
    "FullResolutionPrediction",
    "ModelConfig",
    "ModelConfigError",
    "Prediction",
    "PriorCostDCNet",
    "WorkingInference",
    "WorkingInputs",
    "apply_correction",
    "available_configs",
    "build_model",
    "check_prior",
    "depth_to_planes",
    "edge_aware_upsample",
    "fuse_for_inference",
    "load_checkpoint",
    "load_model_config",
    "placement_weights",
    "plane_confidence",
    "read_checkpoint",
    "refine_frames",
    "refine_usable_frames",
    "save_checkpoint",
    "to_working_resolution",
    "with_config",
    "working_size",
]
