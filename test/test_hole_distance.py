"""training.hole_distance: hole errors split by distance to the nearest measurement, on real frames."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from depth_completion_ros.datasets import discover_frames, load_frame
from depth_completion_ros.evaluation import prepare_inputs
from depth_completion_ros.metrics import depth_metrics
from depth_completion_ros.pipeline import DepthCompleter
from training.hole_distance import DEFAULT_EDGES, main, measurement_distance, score_bands

SHIPPED = Path(__file__).resolve().parents[1] / "models" / "costdcnet_prior_cpu.onnx"


def test_measurement_distance_is_euclidean_in_pixels_at_640_wide() -> None:
    depth = np.zeros((60, 1280), np.float32)
    depth[30, 100] = 2.0
    distance = measurement_distance(depth)
    assert distance[30, 100] == 0
    assert np.isclose(distance[30, 140], 20.0, atol=0.01)  # 40 px at 1280 wide is 20 at 640
    assert np.isclose(distance[0, 100], 15.0, atol=0.01)
    assert np.isclose(distance[54, 132], 20.0, atol=0.01)  # (24, 32) -> 40 px


def test_bands_pool_back_to_the_evaluation_hole_rmse_on_a_real_frame(redkitchen_root, tmp_path) -> None:
    """The bands split exactly the hole pixels training.evaluate scores: pooled back they give
    its hole RMSE and count for the same frame and hidden regions (the classical baseline here)."""
    out = tmp_path / "distance"
    assert main(["--data", str(redkitchen_root), "--frames", "250:251", "--protocol", "hidden",
                 "--model", f"shipped={SHIPPED}", "--out", str(out)]) == 0
    report = json.loads((out / "distance.json").read_text())
    bands = report["bands"]
    assert set(bands) == {"shipped", "classical"} and (out / "distance.png").stat().st_size > 0
    assert "| 0-2 |" in (out / "distance.md").read_text()

    sample = load_frame(discover_frames(redkitchen_root)[250])
    input_depth, reference = prepare_inputs(sample, "hidden", 0, 0)
    expected = depth_metrics(DepthCompleter(method="classical").complete(input_depth, sample.rgb).depth, reference,
                             raw=input_depth)
    pixels = np.array(bands["classical"]["pixels"])
    rmse = np.nan_to_num(np.array(bands["classical"]["rmse"]))
    assert pixels.sum() == expected["hole/count"] and (pixels > 0).sum() >= 4
    assert np.isclose(np.sqrt((rmse**2 * pixels).sum() / pixels.sum()), expected["hole/rmse"], rtol=1e-5)


def test_bad_edges_and_missing_data_are_errors_not_tracebacks(tmp_path, capsys) -> None:
    common = ["--model", str(SHIPPED), "--out", str(tmp_path / "out")]
    assert main(["--data", str(tmp_path), "--edges", "0", "4", "2", *common]) == 2
    assert "--edges must start at 0 and increase" in capsys.readouterr().err
    assert main(["--data", str(tmp_path / "nowhere"), *common]) == 2
    assert "error:" in capsys.readouterr().err
    # a recording whose depth image is truncated: an error naming the file, no traceback, nothing written
    recording = tmp_path / "recording"
    (recording / "color").mkdir(parents=True)
    (recording / "depth").mkdir()
    cv2.imwrite(str(recording / "color" / "000000.png"), np.zeros((48, 64, 3), np.uint8))
    cv2.imwrite(str(recording / "depth" / "000000.png"), np.full((48, 64), 1000, np.uint16))
    (recording / "depth" / "000000.png").write_bytes((recording / "depth" / "000000.png").read_bytes()[:40])
    assert main(["--data", str(recording), "--protocol", "hidden", *common]) == 2
    assert "000000.png" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_draws_pool_every_draw_of_hidden_regions(redkitchen_root) -> None:
    """Two draws pool the pixels of the single draws with seeds 0 and 1."""
    frames = discover_frames(redkitchen_root)[250:251]
    methods = {"classical": lambda depth, rgb: DepthCompleter(method="classical").complete(depth, rgb).depth}
    single = [score_bands(frames, methods, "hidden", seed, DEFAULT_EDGES, 0.1)["classical"] for seed in (0, 1)]
    pooled = score_bands(frames, methods, "hidden", 0, DEFAULT_EDGES, 0.1, draws=2)["classical"]
    assert pooled["pixels"] == [a + b for a, b in zip(single[0]["pixels"], single[1]["pixels"], strict=True)]
    assert single[0]["pixels"] != single[1]["pixels"]
