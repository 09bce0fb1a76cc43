"""ament_python package that also installs with pip into a plain virtual environment.

On a robot, ``colcon build`` installs the launch files, configs, RViz layout and shipped
models into ``share/depth_completion_ros``. Without ROS, ``pip install -e .[ros,test]``
pulls the ROS 2 Kilted core wheels from PyPI instead.
"""
from glob import glob

from setuptools import find_packages, setup
from setuptools.dist import Distribution

PACKAGE = "depth_completion_ros"


def _files(pattern: str) -> list[str]:
    return sorted(p for p in glob(pattern) if not p.endswith((".engine", ".gitkeep")))


class _Distribution(Distribution):
    """Installs ``data_files`` in editable mode too (``pip install -e .``, the README's venv).

    setuptools' editable_wheel installs data only if the distribution ``has_data()``, a method
    Distribution does not have (it has ``has_data_files``), so without this an editable install
    would lack the ament index entry, launch files, configs and the lib/ shim that
    ``ros2 launch depth_completion_ros ...`` needs. The files are copied, not linked.
    """

    def has_data(self) -> bool:
        return self.has_data_files()


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    package_data={PACKAGE: ["configs/*.yaml", "py.typed"]},
    distclass=_Distribution,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        # ROS tools find executables in lib/<package>: see the shim's comment.
        (f"lib/{PACKAGE}", ["libexec/depth_completion_node"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", _files("launch/*.py")),
        (f"share/{PACKAGE}/config", _files("config/*.yaml") + _files("config/*.xml")),
        (f"share/{PACKAGE}/rviz", _files("rviz/*.rviz")),
        (f"share/{PACKAGE}/models", _files("models/*.onnx") + _files("models/*.pt") + _files("models/*.md")),
    ],
    python_requires=">=3.10",
    install_requires=[
        "setuptools",
        "numpy>=1.24",
        "opencv-python-headless>=4.10,<5",  # 5.x wheels ship without OpenEXR
        "PyYAML>=6",
        "tqdm>=4.60",
        "torch>=2.1",
        "onnx>=1.15",
        "onnxruntime>=1.17",
        "rosbags>=0.11.9,<0.12",  # bag record/repair use its MCAP and SQLite writer internals
        "imageio>=2.30",
        "matplotlib>=3.7",
        "tensorboard>=2.14",
    ],
    extras_require={
        # ROS 2 Kilted core from PyPI, for machines without a ROS install.
        "ros": [
            "ros-rclpy",
            "ros-sensor-msgs",
            "ros-std-msgs",
            "ros-diagnostic-msgs",
            "ros-rosgraph-msgs",
            "ros-builtin-interfaces",
            "ros-rmw-fastrtps-cpp",
        ],
        "export": ["onnxscript>=0.5"],
        # `depth-completion fuse` (TSDF fusion of posed sequences); Debian/Ubuntu also need libusb-1.0-0.
        "fusion": ["open3d>=0.20"],
        # The README's test command also lints and type-checks (configured in pyproject.toml).
        "test": [
            "pytest>=7",
            "pytest-timeout>=2",
            "ruff>=0.17.6,<0.18",
            "mypy>=2.4,<2.5",
            "types-PyYAML",
            "types-tqdm",
        ],
    },
    zip_safe=True,
    maintainer="depth_completion_ros maintainers",
    maintainer_email="maintainers@depth-completion-ros.invalid",
    description="Real-time depth completion for ROS 2: interpolation, classical filling and CostDCNet.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "depth_completion_node = depth_completion_ros.node:main",
            "depth-completion = depth_completion_ros.cli:main",
        ],
    },
)
