"""The installed `vggrpo` console script, as a user runs it."""
import subprocess
import sys

import pytest

import vggrpo
from vggrpo.cli import COMMANDS, main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "vggrpo.cli", *args], capture_output=True, text=True)


def test_help_lists_usage():
    result = run_cli("--help")
    assert result.returncode == 0
    assert "usage: vggrpo" in result.stdout
    for name in COMMANDS:
        assert name in result.stdout


def test_version_matches_package():
    result = run_cli("--version")
    assert result.returncode == 0 and vggrpo.__version__ in result.stdout


def test_unknown_command_is_a_clear_error():
    result = run_cli("definitely-not-a-command")
    assert result.returncode == 2
    assert "unknown command 'definitely-not-a-command'" in result.stderr


def test_every_registered_command_has_help():
    for name in COMMANDS:
        try:
            main([name, "--help"])
        except SystemExit as stop:
            assert stop.code == 0, name


def test_demo_runs_end_to_end_and_reports_motion(tmp_path):
    "`run_demo` at its smallest: scores before/after (rewards and latent motion), a GRPO run with the guard, both reports."
    import json

    from vggrpo.cli import run_demo

    report = run_demo(tmp_path, num_prompts=1, group_size=2, grpo_steps=1, sampling_steps=3, sde_window=1, progress=False)
    for when in ("before", "after"):
        assert set(report[when]) == {"reward", "camera_smoothness", "reprojection_consistency", "latent_motion"}
        assert 0 < report[when]["latent_motion"] < 10 and 0 < report[when]["reward"] <= 1
    assert len(report["history"]) == 1 and report["guard_ratio"] > 0 and "latent_motion_mean" in report["history"][0]
    assert json.loads((tmp_path / "report.json").read_text())["after"] == report["after"]
    assert "latent_motion" in (tmp_path / "report.html").read_text()
    with pytest.raises(ValueError, match="group_size must be >= 2"):
        run_demo(tmp_path / "bad", group_size=1, progress=False)


def test_eval_scores_held_out_prompts_and_rejects_a_missing_lora(tmp_path):
    "`vggrpo eval` on the shipped models: latent rewards, latent motion and the independent RGB metrics, written as JSON."
    import json

    out = tmp_path / "eval.json"
    result = run_cli("eval", "--num-prompts", "1", "--group-size", "2", "--steps", "2", "--output", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(out.read_text())
    assert len(report["prompts"]) == 1 and "lora" not in report
    base = report["base"]
    assert {"reward", "camera_smoothness", "reprojection_consistency", "latent_motion", "epipolar_error", "dynamic_degree"} <= set(base)
    assert base["videos"] == 1 and base["latent_motion"] > 0 and base["dynamic_degree"] >= 0
    bad = run_cli("eval", "--lora", str(tmp_path / "nowhere"))
    assert bad.returncode == 2 and "no pytorch_lora_weights.safetensors" in bad.stderr


def test_eval_geomodel_scores_held_out_worlds_and_rejects_bad_input(tmp_path):
    "`vggrpo eval-geomodel` on one test world, Φ alone: the table with the targets, and every clip's metrics as JSON."
    import json

    out = tmp_path / "phi.json"
    result = run_cli("eval-geomodel", "--clips", "1", "--batch-size", "1", "--device", "cpu", "--no-refine", "--output", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "translation_direction_error_deg" in result.stdout and "≤ 5" in result.stdout
    report = json.loads(out.read_text())
    assert report["refined"] is None and report["split"] == "test" and len(report["feed_forward"]["clips"]) == 1
    clip = report["feed_forward"]["clips"][0]
    assert 0 < clip["depth_absrel"] < 1 and 0 <= clip["rotation_error_deg"] < 180
    for args, message in ((("--weights", str(tmp_path / "nowhere")), "no Φ weights (config.json)"),
                          (("--batch-size", "0"), "must be >= 1"), (("--refine-options", '{"steps": 3}'), "unknown refine_cameras options")):
        bad = run_cli("eval-geomodel", *args)
        assert bad.returncode == 2 and message in bad.stderr, bad.stderr[-1000:]
