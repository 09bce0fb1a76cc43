"""Start the depth completion node (and optionally RViz) for a depth camera.

    ros2 launch depth_completion_ros depth_completion.launch.py camera:=realsense
    ros2 launch depth_completion_ros depth_completion.launch.py camera:=zed method:=classical rviz:=true
    ros2 launch depth_completion_ros depth_completion.launch.py camera:=zed color_topic:=rgb/image_rect_color
        # zed-ros2-wrapper before 5.1
    ros2 launch depth_completion_ros depth_completion.launch.py camera:=generic namespace:=/my_cam \\
        params_file:=/path/to/my_params.yaml use_sim_time:=true      # replaying a bag with --clock

The node (and RViz) run in the camera's namespace, so completed depth comes out next to the
camera's own topics (e.g. /camera/camera/depth_completed/image_raw for a RealSense). Each
``camera`` preset remaps the node's inputs to the topics that driver publishes by default; depth
must be registered to the colour image (RealSense ``align_depth.enable:=true``, Orbbec
``depth_registration:=true``, ZED and Azure Kinect publish registered depth already).
``depth_topic``, ``color_topic`` and ``camera_info_topic`` replace a preset's names (driver
versions rename topics). Nothing starts when RViz is asked for but not installed, and when the
node exits the whole launch shuts down, so no process is left behind either way.
"""
import os

from ament_index_python.packages import PackageNotFoundError, get_package_prefix
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription

PACKAGE = "depth_completion_ros"
NODE_EXECUTABLE = "depth_completion_node"
NODE_NAME = "depth_completion"
#: Installed files, relative to the package's share folder.
PARAMS_FILE = "config/params.yaml"
RVIZ_CONFIG = "rviz/depth_completion.rviz"

#: Per camera driver: its default namespace, a frame its TF tree always has (RViz's fixed frame),
#: and the node's input names remapped to that driver's topics (relative to the namespace).
CAMERA_PRESETS = {
    "realsense": {  # realsense2_camera 4.x: camera_namespace:=camera camera_name:=camera
        "namespace": "/camera/camera",
        "frame": "camera_link",
        "remappings": {
            "depth/image_raw": "aligned_depth_to_color/image_raw",
            "depth/camera_info": "aligned_depth_to_color/camera_info",
            "color/image_raw": "color/image_raw",
        },
    },
    "orbbec": {  # OrbbecSDK_ROS2 with depth_registration:=true: already the node's topic names
        "namespace": "/camera",
        "frame": "camera_link",
        "remappings": {},
    },
    "azure_kinect": {  # Azure_Kinect_ROS_Driver (colour is BGRA)
        "namespace": "/",
        "frame": "camera_base",
        "remappings": {
            "depth/image_raw": "depth_to_rgb/image_raw",
            "depth/camera_info": "depth_to_rgb/camera_info",
            "color/image_raw": "rgb/image_raw",
        },
    },
    "zed": {  # zed-ros2-wrapper >= 5.1 (depth is 32FC1 metres, colour BGRA); before 5.1 the colour
        # topic was rgb/image_rect_color: pass color_topic:=rgb/image_rect_color
        "namespace": "/zed/zed_node",
        "frame": "zed_camera_link",
        "remappings": {
            "depth/image_raw": "depth/depth_registered",
            "depth/camera_info": "depth/camera_info",
            "color/image_raw": "rgb/color/rect/image",
        },
    },
    "generic": {  # anything publishing <namespace>/depth/image_raw, color/image_raw, depth/camera_info
        "namespace": "/camera",
        "frame": "camera_link",
        "remappings": {},
    },
}
#: Launch arguments passed to the node as parameters of the same name when given (non-empty);
#: everything else comes from the parameters file.
NODE_PARAMETER_ARGUMENTS = ("method", "backend", "model_path")
#: Launch arguments that replace the preset's remapping of one node input (relative to the namespace).
TOPIC_ARGUMENTS = {"depth_topic": "depth/image_raw", "color_topic": "color/image_raw",
                   "camera_info_topic": "depth/camera_info"}
RVIZ_PACKAGE = "rviz2"


def _check_rviz_installed() -> None:
    """Fail before anything starts: once the node runs, a missing RViz would abort the launch around it."""
    try:
        prefix = get_package_prefix(RVIZ_PACKAGE)
    except PackageNotFoundError:
        raise RuntimeError(
            f"rviz:=true but the '{RVIZ_PACKAGE}' package is not installed (apt install ros-$ROS_DISTRO-rviz2); "
            f"nothing was started"
        ) from None
    if not os.access(os.path.join(prefix, "lib", RVIZ_PACKAGE, "rviz2"), os.X_OK):
        raise RuntimeError(f"rviz:=true but {prefix}/lib/{RVIZ_PACKAGE}/rviz2 is missing; nothing was started")


def _launch_setup(context, *args, **kwargs):
    camera = LaunchConfiguration("camera").perform(context)
    if camera not in CAMERA_PRESETS:
        raise ValueError(f"unknown camera {camera!r}; choose one of: {', '.join(CAMERA_PRESETS)}")
    preset = CAMERA_PRESETS[camera]
    namespace = LaunchConfiguration("namespace").perform(context) or preset["namespace"]
    frame = LaunchConfiguration("camera_frame").perform(context) or preset["frame"]
    topics = dict(preset["remappings"])
    for argument, node_input in TOPIC_ARGUMENTS.items():
        if topic := LaunchConfiguration(argument).perform(context):
            topics[node_input] = topic
    remappings = list(topics.items())
    with_rviz = LaunchConfiguration("rviz").perform(context) == "true"
    if with_rviz:
        _check_rviz_installed()
    use_sim_time = ParameterValue(LaunchConfiguration("use_sim_time"), value_type=bool)

    overrides = {"use_sim_time": use_sim_time}
    for name in NODE_PARAMETER_ARGUMENTS:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = ParameterValue(value, value_type=str)

    node = Node(
        package=PACKAGE,
        executable=NODE_EXECUTABLE,
        name=NODE_NAME,
        namespace=namespace,
        parameters=[LaunchConfiguration("params_file"), overrides],
        remappings=remappings,
        output="screen",
        emulate_tty=True,
        on_exit=Shutdown(reason="the depth completion node exited"),
    )
    if not with_rviz:
        return [node]
    # RViz runs in the same namespace with the same remappings, so the relative topics in the
    # shared config resolve to this camera's raw and completed topics.
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="depth_completion_rviz",
        namespace=namespace,
        arguments=["-d", PathJoinSubstitution([FindPackageShare(PACKAGE), RVIZ_CONFIG]), "-f", frame],
        parameters=[{"use_sim_time": use_sim_time}],
        remappings=remappings,
        output="log",
    )
    return [node, rviz]


def generate_launch_description() -> LaunchDescription:
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "camera", default_value="generic", choices=list(CAMERA_PRESETS),
                description="Camera driver preset: its namespace and topic names.",
            ),
            DeclareLaunchArgument(
                "namespace", default_value="",
                description="Camera namespace (empty: the preset's default, e.g. /camera/camera for RealSense).",
            ),
            DeclareLaunchArgument(
                "camera_frame", default_value="",
                description="RViz fixed frame (empty: the preset's camera link frame).",
            ),
            DeclareLaunchArgument(
                "depth_topic", default_value="",
                description="Registered depth topic, relative to the namespace (empty: the preset's).",
            ),
            DeclareLaunchArgument(
                "color_topic", default_value="",
                description="Colour topic, relative to the namespace (empty: the preset's; "
                            "rgb/image_rect_color for zed-ros2-wrapper before 5.1).",
            ),
            DeclareLaunchArgument(
                "camera_info_topic", default_value="",
                description="camera_info of the depth topic, relative to the namespace (empty: the preset's).",
            ),
            DeclareLaunchArgument(
                "method", default_value="",
                description="model | classical | interp (empty: the parameters file's value).",
            ),
            DeclareLaunchArgument(
                "backend", default_value="",
                description="auto | tensorrt | onnxruntime-cuda | onnxruntime | torch (empty: the parameters file's).",
            ),
            DeclareLaunchArgument(
                "model_path", default_value="",
                description="Model file (empty: the parameters file's value, by default the shipped model).",
            ),
            DeclareLaunchArgument(
                "params_file", default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), PARAMS_FILE]),
                description="Node parameters (YAML).",
            ),
            DeclareLaunchArgument(
                "use_sim_time", default_value="false", choices=["true", "false"],
                description="Use /clock (bag replay with --clock).",
            ),
            DeclareLaunchArgument(
                "rviz", default_value="false", choices=["true", "false"],
                description="Also start RViz with raw/completed depth, colourised depth and the point cloud.",
            ),
            OpaqueFunction(function=_launch_setup),
        ]
    )
