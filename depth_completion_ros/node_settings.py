"""The node's parameters: :class:`~depth_completion_ros.options.CompleterOptions` plus :class:`NodeOptions`.

Both are option dataclasses (see ``options.py``): the node declares one ROS parameter per field,
with the field's description, choices, limits and read-only flag, and ``config/params.yaml``
is checked against the same fields by a test. :class:`NodeSettings` is one consistent snapshot
of every parameter, replaced as a whole so the node's threads never see half a change.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .options import CompleterOptions, OptionField, check_options, option, option_fields
from .qos import QOS_MODES
from .ros_image import DEPTH_ENCODINGS

#: "" publishes the input's own encoding.
OUTPUT_ENCODINGS = ("", *DEPTH_ENCODINGS)
#: Colour scales of the colourised image (see NodeOptions.colorize_range).
COLORIZE_RANGES = ("robust", "fixed")
#: Methods that use colour when it comes but also work on depth alone.
COLOR_OPTIONAL_METHODS = ("classical", "interp")


@dataclass(frozen=True)
class NodeOptions:
    """How the node receives, pairs and publishes (the completion itself is CompleterOptions)."""

    require_color: bool = option(True, "Pair depth with colour. False: work on depth alone. The classical and "
                                 "interp methods also work on depth alone while the colour topic has no publisher.",
                                 live=False)
    resize_color: bool = option(False, "Colour of another size than the depth: resize it to the depth (only valid "
                                "for colour registered to the depth view) instead of rejecting the frame.")
    slop: float = option(0.02, "Largest stamp difference (s) between a depth and a colour image that are paired.",
                         limits=(0.0, 1.0))
    queue_size: int = option(5, "Unpaired messages kept per input while waiting for a partner.", limits=(1, 100))
    wait_for_camera_info: bool = option(True, "Hold the newest input until the first valid camera_info arrives, so "
                                        "every output has its camera_info (older inputs are dropped, counted "
                                        "no_camera_info). False: complete them at once, without camera_info.")
    depth_qos: str = option("auto", "Reliability of the depth and camera_info subscriptions: auto matches the "
                            "publishers (reliable only if all of them are).", choices=QOS_MODES, live=False)
    color_qos: str = option("auto", "Reliability of the colour subscription (as depth_qos).", choices=QOS_MODES,
                            live=False)
    output_encoding: str = option("", "Encoding of the completed depth: 16UC1/mono16 (mm) or 32FC1 (m); empty "
                                  "publishes the input's encoding.", choices=OUTPUT_ENCODINGS)
    colorize_range: str = option("robust", "Colour scale of the colourised image: robust spans the 2-98 % range of "
                                 "each completed frame (a few far, noisy pixels cannot wash the scene into "
                                 "one shade); fixed uses colorize_min..colorize_max.", choices=COLORIZE_RANGES)
    colorize_min: float = option(0.0, "Depth (m) drawn with the first colour of the colourised image "
                                 "(colorize_range fixed).", limits=(0.0, 100.0))
    colorize_max: float = option(10.0, "Depth (m) drawn with the last colour of the colourised image "
                                 "(colorize_range fixed).", limits=(0.0, 100.0))
    pointcloud_color: bool = option(True, "Colour the point cloud (xyzrgb) when colour is paired; else xyz.")
    input_timeout: float = option(5.0, "Warn when an input has been silent this many seconds.", limits=(0.5, 600.0))

    def __post_init__(self) -> None:
        check_options(self)
        if not self.colorize_min < self.colorize_max:
            raise ValueError(f"colorize_min ({self.colorize_min}) must be below colorize_max ({self.colorize_max})")


#: Every node parameter, in the order the node declares them.
PARAMETERS: tuple[OptionField, ...] = option_fields(CompleterOptions) + option_fields(NodeOptions)


class SettingsError(ValueError):
    """Parameter values the node cannot work with; ``problems`` names each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class NodeSettings:
    """Every node parameter: the completer's options and the node's own."""

    completer: CompleterOptions
    node: NodeOptions

    @classmethod
    def from_parameters(cls, values: Mapping[str, Any]) -> NodeSettings:
        """Settings from flat parameter values (missing ones at their defaults); SettingsError lists every problem."""
        completer_names = {f.name for f in option_fields(CompleterOptions)}
        problems = []
        try:
            completer = CompleterOptions(**{k: v for k, v in values.items() if k in completer_names})
        except ValueError as exc:
            problems.append(str(exc))
        try:
            node = NodeOptions(**{k: v for k, v in values.items() if k not in completer_names})
        except ValueError as exc:
            problems.append(str(exc))
        if problems:
            raise SettingsError(problems)
        if completer.method == "model" and not node.require_color:
            raise SettingsError(["method 'model' needs colour: set require_color:=true or use classical/interp"])
        return cls(completer, node)

    def parameters(self) -> dict[str, Any]:
        """The flat parameter values these settings hold."""
        return {**dataclasses.asdict(self.completer), **dataclasses.asdict(self.node)}

    def updated(self, changes: Mapping[str, Any]) -> NodeSettings:
        """These settings with some parameters changed (validated as a whole)."""
        return self.from_parameters({**self.parameters(), **changes})
