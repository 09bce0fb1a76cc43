"""One entry point that builds the right network class for a config (its ``anchor``)."""
from __future__ import annotations

from .config import ModelConfig, load_model_config
from .costdcnet import CostDCNet
from .prior_costdcnet import PriorCostDCNet

#: Any network :func:`build_model` makes; both take their config and expose ``input_names``.
DepthNetwork = CostDCNet | PriorCostDCNet
#: The network class of each ``ModelConfig.anchor``.
NETWORKS: dict[str, type[DepthNetwork]] = {"planes": CostDCNet, "prior": PriorCostDCNet}


def build_model(config: ModelConfig | str) -> DepthNetwork:
    """A freshly initialised network for a config object, packaged config name or YAML path."""
    config = config if isinstance(config, ModelConfig) else load_model_config(config)
    return NETWORKS[config.anchor](config)
