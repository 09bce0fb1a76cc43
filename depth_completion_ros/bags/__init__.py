"""rosbag2 tools built on the pure-Python ``rosbags`` library (``ros2 bag`` does not install here).

- :func:`frames_to_bag` / :func:`samples_to_bag`: a frame folder or in-memory frames -> a camera's bag
- :func:`bag_to_frames`: a bag -> a ``frame-XXXXXX`` folder for the offline tools
- :func:`bag_info`: what ``bag info`` prints
- ``play.play_bag`` / ``record.record_bag``: replay and recording over DDS (need rclpy; imported on use)
- ``repair.repair_bag``: the intact messages of a recording that was killed before it closed -> a new bag
- ``evaluate.evaluate_against_reference`` / ``evaluate.evaluate_hidden_regions``: scoring completed
  depth (imported on use: it pulls in the metrics' torch)

The ``depth-completion bag`` commands live in :mod:`depth_completion_ros.cli.bag`; nothing here
imports them.
"""
from .convert import CameraTopics, bag_to_frames, frame_stamp, frames_to_bag, samples_to_bag
from .storage import BagError, BagInfo, bag_info, open_bag

__all__ = [
    "BagError",
    "BagInfo",
    "CameraTopics",
    "bag_info",
    "bag_to_frames",
    "frame_stamp",
    "frames_to_bag",
    "open_bag",
    "samples_to_bag",
]
