"""CompleterOptions: the one validated description of a DepthCompleter, shared by the CLI and the node."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from depth_completion_ros.depth_io import DEFAULT_MAX_DEPTH
from depth_completion_ros.options import CompleterOptions, option_fields
from depth_completion_ros.pipeline import DepthCompleter


def test_defaults_are_valid_and_every_field_is_documented():
    options = CompleterOptions()
    assert options.method == "classical" and options.max_depth == DEFAULT_MAX_DEPTH
    for option in option_fields(CompleterOptions):
        assert option.spec.description, option.name
        assert type(option.default) is option.type, option.name


def test_every_problem_is_named_in_one_error():
    with pytest.raises(ValueError) as error:
        CompleterOptions(method="magic", fit="stretch", confidence_threshold=1.5, interpolate="yes")
    message = str(error.value)
    for expected in ("unknown method 'magic'", "unknown fit 'stretch'", "confidence_threshold must be in [0, 1]",
                     "interpolate must be a bool"):
        assert expected in message
    with pytest.raises(ValueError, match=r"min_depth \(2.0\) must be below max_depth \(1.0\)"):
        CompleterOptions(min_depth=2.0, max_depth=1.0)
    with pytest.raises(ValueError, match="max_depth"):
        CompleterOptions(max_depth=math.nan)


def test_library_values_are_normalised_to_parameter_types():
    options = CompleterOptions(model_path=Path("models/x.onnx"), device=None, min_depth=1)
    assert options.model_path == "models/x.onnx" and options.device == ""
    assert type(options.min_depth) is float  # a ROS double parameter compares equal and has the same type


def test_a_completer_is_built_from_options_or_fields_alike():
    frame = np.zeros((40, 50), np.float32)
    frame[5:35, 5:45] = np.linspace(1.0, 3.0, 40, dtype=np.float32)
    frame[15:20, 20:25] = 0
    frame[0, 0] = 9.0  # beyond max_depth: a hole
    options = CompleterOptions(method="classical", max_depth=5.0)
    from_options = DepthCompleter(options)
    from_fields = DepthCompleter("classical", max_depth=5.0)
    assert from_options.options == from_fields.options == options
    np.testing.assert_array_equal(from_options.complete(frame).depth, from_fields.complete(frame).depth)
    assert from_options.complete(frame).depth[0, 0] < 5.0
    override = DepthCompleter(options, interpolate=False)
    assert override.options == dataclasses.replace(options, interpolate=False)
    with pytest.raises(TypeError, match="unknown DepthCompleter option"):
        DepthCompleter(options, colour=True)
