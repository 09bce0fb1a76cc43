"""Topic names, defined once for the node, the bag tools and the demo.

The node's names are relative: push it into the camera's namespace or remap them (the launch
presets do). A bag of one camera holds the same names under that namespace
(:class:`~depth_completion_ros.bags.convert.CameraTopics`).
"""
from __future__ import annotations

# Inputs (a camera driver's names; Orbbec's and the RealSense wrapper's defaults).
DEPTH_TOPIC = "depth/image_raw"
COLOR_TOPIC = "color/image_raw"
CAMERA_INFO_TOPIC = "depth/camera_info"
COLOR_CAMERA_INFO_TOPIC = "color/camera_info"
#: Dense reference depth in converted bags of datasets that have it (never published by a camera).
GROUND_TRUTH_TOPIC = "depth/ground_truth"

# Outputs of the node.
OUT_DEPTH_TOPIC = "depth_completed/image_raw"
OUT_CAMERA_INFO_TOPIC = "depth_completed/camera_info"
OUT_CONFIDENCE_TOPIC = "depth_completed/confidence"
OUT_COLORIZED_TOPIC = "depth_completed/colorized"
OUT_POINTS_TOPIC = "depth_completed/points"
DIAGNOSTICS_TOPIC = "/diagnostics"

INPUT_TOPICS = (DEPTH_TOPIC, COLOR_TOPIC, CAMERA_INFO_TOPIC)
OUTPUT_TOPICS = (OUT_DEPTH_TOPIC, OUT_CAMERA_INFO_TOPIC, OUT_CONFIDENCE_TOPIC, OUT_COLORIZED_TOPIC, OUT_POINTS_TOPIC)
