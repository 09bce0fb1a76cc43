"""CostDCNet depth completion network: configs, model, checkpoints (shared by node, export, training)."""
from .checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from .config import ModelConfig, ModelConfigError, available_configs, load_model_config
from .costdcnet import CostDCNet, Prediction, build_model, depth_to_planes, placement_weights, plane_confidence

__all__ = [
    "CheckpointError",
    "CostDCNet",
    "ModelConfig",
    "ModelConfigError",
    "Prediction",
    "available_configs",
    "build_model",
    "depth_to_planes",
    "load_checkpoint",
    "load_model_config",
    "placement_weights",
    "plane_confidence",
    "read_checkpoint",
    "save_checkpoint",
]
