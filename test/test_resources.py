"""Shipped assets are found from a source checkout: models and the Fast DDS large-frame profile."""
from __future__ import annotations

import xml.etree.ElementTree as ET

from depth_completion_ros.resources import (
    FASTDDS_PROFILE_VARIABLE,
    default_model_path,
    fastdds_profile_path,
    use_large_frame_transport,
)


def test_shipped_model_is_found():
    assert default_model_path("costdcnet_cpu").name == "costdcnet_cpu.onnx"


def test_fastdds_profile_is_valid_and_sets_a_large_shared_memory_segment():
    root = ET.parse(fastdds_profile_path()).getroot()
    sizes = [int(e.text) for e in root.iter() if e.tag.endswith("segment_size")]
    assert sizes and min(sizes) >= 4 * 1920 * 1080 * 3  # several 1080p colour frames fit


def test_large_frame_transport_respects_a_profile_the_user_chose():
    environ: dict[str, str] = {}
    chosen = use_large_frame_transport(environ)
    assert chosen == str(fastdds_profile_path())
    assert environ == {FASTDDS_PROFILE_VARIABLE: chosen}
    mine = {"FASTRTPS_DEFAULT_PROFILES_FILE": "/etc/my_profile.xml"}  # the legacy name still counts
    assert use_large_frame_transport(mine) == "/etc/my_profile.xml"
    assert FASTDDS_PROFILE_VARIABLE not in mine
