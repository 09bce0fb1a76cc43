"""Real-time depth completion for ROS 2: interpolation, classical filling and CostDCNet.

Internal conventions (see docs/architecture.md): depth is float32 metres with 0 = invalid,
colour is uint8 RGB (H, W, 3).
"""

__version__ = "0.1.0"
