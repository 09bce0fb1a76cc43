"""training.average: weight averages of two checkpoints."""
from __future__ import annotations

import torch

from depth_completion_ros.model import build_model, load_checkpoint, save_checkpoint
from training.average import main


def test_average_is_the_weighted_mean_and_keeps_the_second_config(tmp_path, capsys) -> None:
    torch.manual_seed(0)
    first, second = build_model("costdcnet_prior_cpu"), build_model("costdcnet_prior_cpu")
    for model, value in ((first, 0.0), (second, 1.0)):
        torch.nn.init.constant_(model.cost_volume.head.weight, value)
    second.config = second.config.replace(correction_ramp_cells=3)
    paths = [save_checkpoint(tmp_path / f"{n}.pt", m, steps=n) for n, m in ((1, first), (2, second))]
    assert main([*map(str, paths), "--weight", "0.25", "--output", str(tmp_path / "soup.pt")]) == 0
    soup, meta = load_checkpoint(tmp_path / "soup.pt")
    assert torch.allclose(soup.cost_volume.head.weight, torch.full_like(soup.cost_volume.head.weight, 0.25))
    for name, tensor in soup.state_dict().items():
        expected = 0.75 * first.state_dict()[name] + 0.25 * second.state_dict()[name]
        assert torch.allclose(tensor, expected if tensor.is_floating_point() else second.state_dict()[name]), name
    assert soup.config.correction_ramp_cells == 3 and meta["steps"] == 2 and meta["averaged_from"]["weight"] == 0.25
    # another architecture, a weight outside [0, 1]: errors, nothing written
    other = save_checkpoint(tmp_path / "cpu.pt", build_model("costdcnet_cpu"))
    assert main([str(paths[0]), str(other), "--output", str(tmp_path / "bad.pt")]) == 2
    assert "differ in names or shapes" in capsys.readouterr().err
    assert main([*map(str, paths), "--weight", "1.5", "--output", str(tmp_path / "bad.pt")]) == 2
    assert "weight must be in [0, 1]" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()
    (tmp_path / "file").write_text("")
    assert main([*map(str, paths), "--output", str(tmp_path / "file" / "soup.pt")]) == 2
    assert "cannot write" in capsys.readouterr().err
