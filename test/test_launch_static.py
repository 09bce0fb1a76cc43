"""The launch file, parameters file and RViz layout agree with the node and the install rules.

These checks need no ROS tools: the launch file is read with ``ast`` (never imported) and
setup.py is run with ``setuptools.setup`` captured. Each check guards a mistake that would only
show on a robot: a renamed executable, a parameter the node does not declare (ROS 2 rejects it
at start-up), a remap of a topic the node never uses, a file that is not installed.
"""
from __future__ import annotations

import ast
import fnmatch
import os
import runpy
from pathlib import Path
from typing import Any

import pytest
import setuptools
import yaml

from depth_completion_ros.node import NODE_NAME
from depth_completion_ros.node_settings import PARAMETERS
from depth_completion_ros.topics import DEPTH_TOPIC, INPUT_TOPICS, OUTPUT_TOPICS

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILE = REPO_ROOT / "launch" / "depth_completion.launch.py"
NODE_PARAMETERS = {spec.name: spec for spec in PARAMETERS}
#: Parameters every ROS 2 node has without declaring them.
STANDARD_PARAMETERS = {"use_sim_time"}


@pytest.fixture(scope="module")
def launch_tree() -> ast.Module:
    return ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


@pytest.fixture(scope="module")
def launch_constants(launch_tree) -> dict[str, Any]:
    """The launch file's module-level literal constants (its data: presets, file paths, names)."""
    constants = {}
    for statement in launch_tree.body:
        if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1):
            continue
        target = statement.targets[0]
        if isinstance(target, ast.Name):
            try:
                constants[target.id] = ast.literal_eval(statement.value)
            except ValueError:
                continue  # not a literal (a function call, a substitution)
    return constants


@pytest.fixture(scope="module")
def setup_kwargs() -> dict[str, Any]:
    """The keyword arguments setup.py passes to setuptools.setup, without building anything."""
    captured: dict[str, Any] = {}
    original, setuptools.setup = setuptools.setup, lambda **kwargs: captured.update(kwargs)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO_ROOT)  # setup.py globs relative paths
        try:
            runpy.run_path(str(REPO_ROOT / "setup.py"))
        finally:
            setuptools.setup = original
    return captured


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def _keyword(call: ast.Call, name: str, constants: dict[str, Any]) -> Any:
    """A call's keyword value: a literal, or a module constant it names."""
    for keyword in call.keywords:
        if keyword.arg == name:
            if isinstance(keyword.value, ast.Name):
                return constants[keyword.value.id]
            return ast.literal_eval(keyword.value)
    raise KeyError(f"{name}= not given")


def _installed(setup_kwargs: dict[str, Any], relative: str) -> str | None:
    """The share folder setup.py installs ``relative`` into, or None."""
    for destination, sources in setup_kwargs["data_files"]:
        if any(fnmatch.fnmatch(relative, source) for source in sources):
            return destination
    return None


def test_the_node_executable_is_a_console_script(launch_tree, launch_constants, setup_kwargs):
    scripts = {entry.split("=")[0].strip(): entry.split("=")[1].strip()
               for entry in setup_kwargs["entry_points"]["console_scripts"]}
    ours = [call for call in _calls(launch_tree, "Node") if _keyword(call, "package", launch_constants) ==
            launch_constants["PACKAGE"]]
    assert len(ours) == 1
    executable = _keyword(ours[0], "executable", launch_constants)
    assert scripts[executable] == "depth_completion_ros.node:main"
    assert _keyword(ours[0], "name", launch_constants) == NODE_NAME


def test_the_node_executable_is_also_installed_where_ros_tools_look(launch_constants, setup_kwargs):
    """`ros2 run`/`ros2 launch` look in <prefix>/lib/<package>; a pip install puts scripts in bin/."""
    package, executable = launch_constants["PACKAGE"], launch_constants["NODE_EXECUTABLE"]
    installed = [source for destination, sources in setup_kwargs["data_files"] if destination == f"lib/{package}"
                 for source in sources]
    assert [Path(source).name for source in installed] == [executable]
    assert os.access(REPO_ROOT / installed[0], os.X_OK)


def test_every_launch_configuration_used_is_declared(launch_tree, launch_constants):
    declared = {ast.literal_eval(call.args[0]) for call in _calls(launch_tree, "DeclareLaunchArgument")}
    used = {ast.literal_eval(call.args[0]) for call in _calls(launch_tree, "LaunchConfiguration")
            if isinstance(call.args[0], ast.Constant)}
    assert used <= declared, f"LaunchConfiguration of undeclared arguments: {sorted(used - declared)}"
    assert set(launch_constants["TOPIC_ARGUMENTS"]) <= declared
    assert set(launch_constants["TOPIC_ARGUMENTS"].values()) <= set(INPUT_TOPICS)
    assert {"camera", "namespace", "method", "backend", "model_path", "use_sim_time", "rviz", "params_file"} <= declared


def test_parameters_set_by_the_launch_file_are_declared_by_the_node(launch_tree, launch_constants):
    declared = {ast.literal_eval(call.args[0]) for call in _calls(launch_tree, "DeclareLaunchArgument")}
    for name in launch_constants["NODE_PARAMETER_ARGUMENTS"]:
        assert name in NODE_PARAMETERS, f"launch passes {name!r}, which the node does not declare"
        assert name in declared, f"{name!r} is passed to the node but is no launch argument"
    literal_keys = {
        key.value
        for call in _calls(launch_tree, "Node")
        for keyword in call.keywords if keyword.arg == "parameters"
        for node in ast.walk(keyword.value) if isinstance(node, ast.Dict)
        for key in node.keys if isinstance(key, ast.Constant)
    }
    assert literal_keys <= set(NODE_PARAMETERS) | STANDARD_PARAMETERS


def test_presets_remap_only_topics_the_node_uses_to_relative_names(launch_constants):
    presets = launch_constants["CAMERA_PRESETS"]
    assert {"realsense", "orbbec", "azure_kinect", "zed", "generic"} <= set(presets)
    for camera, preset in presets.items():
        assert preset["namespace"].startswith("/"), camera
        assert preset["frame"], camera
        for source, target in preset["remappings"].items():
            assert source in INPUT_TOPICS, f"{camera}: remaps {source!r}, which the node does not subscribe to"
            assert not target.startswith("/"), f"{camera}: {target!r} must be relative to the camera namespace"


def test_parameters_file_lists_every_parameter_at_its_default(launch_constants):
    data = yaml.safe_load((REPO_ROOT / launch_constants["PARAMS_FILE"]).read_text())
    values = data["/**"]["ros__parameters"]
    assert set(values) == set(NODE_PARAMETERS), (
        f"missing: {sorted(set(NODE_PARAMETERS) - set(values))}, unknown: {sorted(set(values) - set(NODE_PARAMETERS))}"
    )
    for name, value in values.items():
        default = NODE_PARAMETERS[name].default
        # Exact type: ROS 2 refuses 1 for a double parameter and 1.0 for an integer one.
        assert type(value) is type(default) and value == default, f"{name}: {value!r} in the file, {default!r} in node"


def test_parameters_file_marks_exactly_the_live_parameters(launch_constants):
    """``(live)`` in a line's comment promises ``ros2 param set`` works without a restart."""
    marked = {}
    for line in (REPO_ROOT / launch_constants["PARAMS_FILE"]).read_text().splitlines():
        key, colon, rest = line.strip().partition(":")
        if colon and key in NODE_PARAMETERS:
            marked[key] = "(live)" in rest
    assert marked == {name: option.spec.live for name, option in NODE_PARAMETERS.items()}


def test_referenced_files_exist_and_are_installed(launch_constants, setup_kwargs):
    package = launch_constants["PACKAGE"]
    launch_file = str(LAUNCH_FILE.relative_to(REPO_ROOT))
    for relative in (launch_constants["PARAMS_FILE"], launch_constants["RVIZ_CONFIG"], launch_file):
        assert (REPO_ROOT / relative).is_file(), relative
        assert _installed(setup_kwargs, relative) == f"share/{package}/{Path(relative).parent}", relative


@pytest.fixture(scope="module")
def rviz_config(launch_constants) -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / launch_constants["RVIZ_CONFIG"]).read_text())


def test_rviz_layout_shows_raw_completed_colourised_and_points(rviz_config):
    displays = rviz_config["Visualization Manager"]["Displays"]
    topics = {display["Topic"]["Value"]: display["Class"] for display in displays if "Topic" in display}
    assert topics == {
        DEPTH_TOPIC: "rviz_default_plugins/Image",
        "depth_completed/image_raw": "rviz_default_plugins/Image",
        "depth_completed/colorized": "rviz_default_plugins/Image",
        "depth_completed/points": "rviz_default_plugins/PointCloud2",
    }
    assert set(topics) <= set(INPUT_TOPICS) | set(OUTPUT_TOPICS)
    assert rviz_config["Visualization Manager"]["Global Options"]["Fixed Frame"]


def test_rviz_subscribes_reliable_to_our_outputs(rviz_config):
    for display in rviz_config["Visualization Manager"]["Displays"]:
        if display.get("Topic", {}).get("Value") in OUTPUT_TOPICS:
            assert display["Topic"]["Reliability Policy"] == "Reliable", display["Name"]


def test_the_node_guide_documents_every_parameter():
    guide = (REPO_ROOT / "docs" / "node.md").read_text()
    undocumented = [name for name in NODE_PARAMETERS if f"| `{name}` |" not in guide]
    assert not undocumented, f"docs/node.md has no table row for {undocumented}"
