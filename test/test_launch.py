"""The launch file run by the real ``ros2 launch`` from a pip (editable) install, as the README's venv has it.

The ``launch``/``launch_ros``/``ros2`` CLI wheels come from ``../shared/ros2-tools`` (the tests
skip with the reason when they are absent) and are installed into a scratch folder, never into
the project's environment. The package is installed with ``pip install -e`` into a scratch
virtual environment that sees this interpreter's packages, so ``ros2 launch`` must find the
package through the ament index entry and its executable in ``<venv>/lib/depth_completion_ros``
exactly as after the README's install. Every test checks that no process it started is left.
"""
from __future__ import annotations

import ast
import os
import signal
import site
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rclpy.node import Node, NodeNameNonExistentError
from rclpy.parameter import parameter_value_to_python
from rclpy.parameter_client import AsyncParameterClient
from ros_helpers import BackgroundExecutor, isolate_ros_network, ros_context, wait_for

from depth_completion_ros.node import NODE_NAME
from depth_completion_ros.topics import CAMERA_INFO_TOPIC, COLOR_TOPIC, DEPTH_TOPIC

REPO_ROOT = Path(__file__).resolve().parents[1]
ROS2_TOOLS = Path(os.environ.get("DC_ROS2_TOOLS", REPO_ROOT.parent / "shared" / "ros2-tools"))
LAUNCH_FILE = REPO_ROOT / "launch" / "depth_completion.launch.py"
PARAMS_FILE = REPO_ROOT / "config" / "params.yaml"
#: launch_ros imports composition_interfaces (not on PyPI) for composable nodes, never used here.
COMPOSITION_STAND_IN = "class LoadNode:\n    class Request: ...\n\n    class Response: ...\n"
NODE_START_TIMEOUT_S = 60.0

pytestmark = [pytest.mark.ros, pytest.mark.slow]


def _launch_constant(name: str) -> Any:
    """A literal module constant of the launch file (read, not imported: this interpreter has no launch)."""
    for statement in ast.parse(LAUNCH_FILE.read_text()).body:
        if isinstance(statement, ast.Assign) and getattr(statement.targets[0], "id", None) == name:
            return ast.literal_eval(statement.value)
    raise KeyError(name)


def _run(command: list[str], what: str) -> None:
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if finished.returncode != 0:
        pytest.skip(f"{what} failed: {(finished.stderr or finished.stdout).strip().splitlines()[-1:]}")


@pytest.fixture(scope="module")
def ros2_tools(tmp_path_factory) -> Path:
    """The launch and ros2 CLI wheels installed into a scratch folder (for PYTHONPATH)."""
    wheels = sorted((ROS2_TOOLS / "wheels").glob("*.whl"))
    if not wheels:
        pytest.skip(f"the launch/ros2 CLI wheels are not in {ROS2_TOOLS / 'wheels'} (see ../shared/ros2-tools)")
    target = tmp_path_factory.mktemp("ros2_tools")
    _run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), *map(str, wheels),
          "osrf-pycommon"], "installing the ros2-tools wheels (and osrf-pycommon from the package index)")
    (target / "composition_interfaces").mkdir()
    (target / "composition_interfaces" / "__init__.py").write_text("")
    (target / "composition_interfaces" / "srv.py").write_text(COMPOSITION_STAND_IN)
    return target


@pytest.fixture(scope="module")
def pip_venv(tmp_path_factory) -> Path:
    """A virtual environment with this package ``pip install -e``'d into it (the README's install)."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    venv_python = venv / "bin" / "python"
    venv_site = Path(subprocess.run([str(venv_python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                    capture_output=True, text=True, check=True).stdout.strip())
    # The dependencies (rclpy, torch, ...) are this interpreter's: reachable, not reinstalled.
    (venv_site / "host_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([sys.executable, "-m", "pip", "--python", str(venv_python), "install", "-q", "--no-deps",
          "--no-build-isolation", "-e", str(REPO_ROOT)], "pip install -e of the package into a scratch venv")
    return venv


@pytest.fixture(scope="module")
def launch_env(ros2_tools, pip_venv, tmp_path_factory) -> dict[str, str]:
    isolate_ros_network()
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(pip_venv / "bin"), str(ros2_tools / "bin"), env.get("PATH", "")])
    env["PYTHONPATH"] = str(ros2_tools)
    env["AMENT_PREFIX_PATH"] = os.pathsep.join([str(pip_venv), sys.prefix])
    env["ROS_LOG_DIR"] = str(tmp_path_factory.mktemp("ros_log"))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def graph() -> Iterator[Node]:
    """A node of this test process to look at the launched node from the ROS graph."""
    with ros_context() as context:
        executor = BackgroundExecutor(context)
        probe = executor.add(Node("launch_test_probe", context=context))
        yield probe
        executor.shutdown()
        probe.destroy_node()


def _processes_from(prefix: Path) -> list[str]:
    """Command lines of live processes started from ``prefix`` (the scratch venv): leftovers if any."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(prefix) in cmdline and (entry / "stat").read_text().split()[2] != "Z":
            found.append(f"{entry.name}: {cmdline.strip()}")
    return found


class Launch:
    """``ros2 launch depth_completion_ros depth_completion.launch.py ARGS`` in its own process group."""

    def __init__(self, env: dict[str, str], venv: Path, ros2_tools: Path, *arguments: str) -> None:
        self.venv = venv
        self.log = Path(env["ROS_LOG_DIR"]) / f"launch_{time.monotonic_ns()}.txt"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(
                [str(venv / "bin" / "python"), str(ros2_tools / "bin" / "ros2"), "launch", "depth_completion_ros",
                 "depth_completion.launch.py", *arguments],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def interrupt(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C as a terminal sends it: SIGINT to the whole process group, which the node then also
        gets a second time, forwarded by ``ros2 launch``."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=timeout_s)

    def close(self) -> None:
        """Kill what is left of the process group (after a test's leftover check), launch or not."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()


@pytest.fixture
def launch(launch_env, pip_venv, ros2_tools) -> Iterator[Any]:
    started: list[Launch] = []

    def start(*arguments: str) -> Launch:
        started.append(Launch(launch_env, pip_venv, ros2_tools, *arguments))
        return started[-1]

    yield start
    for item in started:
        item.close()


def _subscriptions(graph: Node, namespace: str) -> set[str]:
    try:
        return {name for name, _ in graph.get_subscriber_names_and_types_by_node(NODE_NAME, namespace)}
    except NodeNameNonExistentError:  # until the node is discovered
        return set()


def _parameters(graph: Node, namespace: str, names: list[str]) -> dict[str, Any]:
    client = AsyncParameterClient(graph, f"{namespace.rstrip('/')}/{NODE_NAME}")
    assert client.wait_for_services(timeout_sec=20.0), "the node's parameter services did not appear"
    future = client.get_parameters(names)
    wait_for(future.done, timeout=20.0, what="the node's parameters")
    return {name: parameter_value_to_python(value) for name, value in zip(names, future.result().values, strict=True)}


PRESET_CASES = [(camera, ()) for camera in _launch_constant("CAMERA_PRESETS")] + [
    ("zed", ("color_topic:=rgb/image_rect_color",)),  # zed-ros2-wrapper before 5.1
]


@pytest.mark.parametrize("camera, extra", PRESET_CASES, ids=[" ".join((c, *e)) for c, e in PRESET_CASES])
def test_every_preset_starts_the_node_remapped_with_the_parameters_file(launch, graph, pip_venv, camera, extra):
    preset = _launch_constant("CAMERA_PRESETS")[camera]
    namespace = preset["namespace"]
    remaps = dict(preset["remappings"])
    for argument in extra:
        name, _, value = argument.partition(":=")
        remaps[_launch_constant("TOPIC_ARGUMENTS")[name]] = value
    prefix = namespace.rstrip("/")
    expected = {f"{prefix}/{remaps.get(topic, topic)}" for topic in (DEPTH_TOPIC, COLOR_TOPIC, CAMERA_INFO_TOPIC)}

    running = launch(f"camera:={camera}", "method:=classical", *extra)
    try:
        wait_for(lambda: expected <= _subscriptions(graph, namespace) or running.process.poll() is not None,
                 timeout=NODE_START_TIMEOUT_S, what=f"the node subscribed to {sorted(expected)}")
        assert running.process.poll() is None, running.output()
        assert _subscriptions(graph, namespace) >= expected
        file_values = yaml.safe_load(PARAMS_FILE.read_text())["/**"]["ros__parameters"]
        values = _parameters(graph, namespace, list(file_values))
        assert values == file_values | {"method": "classical"}
        assert running.interrupt() == 0, running.output()
        assert _processes_from(pip_venv) == []
        output = running.output()
        assert "process has finished cleanly" in output and "Traceback" not in output, output
    finally:
        running.close()


def test_rviz_missing_starts_nothing_and_leaves_nothing(launch, launch_env, pip_venv):
    if _installed(launch_env["AMENT_PREFIX_PATH"], "rviz2"):
        pytest.skip("rviz2 is installed here: a missing rviz2 cannot be checked")
    running = launch("camera:=generic", "method:=classical", "rviz:=true")
    try:
        code = running.process.wait(timeout=NODE_START_TIMEOUT_S)
        time.sleep(1.0)  # an orphan would still be starting up
        assert _processes_from(pip_venv) == []
        output = running.output()
        assert code != 0 and "'rviz2' package is not installed" in output, output
        assert "depth_completion_node" not in output, output  # the node never started
    finally:
        running.close()


def _installed(ament_prefix_path: str, package: str) -> bool:
    return any((Path(prefix) / "share" / "ament_index" / "resource_index" / "packages" / package).exists()
               for prefix in ament_prefix_path.split(os.pathsep) if prefix)
