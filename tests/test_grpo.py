"""GRPO training as a user runs it: `vggrpo train` with a config file, one process and two (DDP over gloo)."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from vggrpo.geomodel import GeometryModel
from vggrpo.grpo import CheckpointError, GRPOConfig, group_advantages, load_checkpoint
from vggrpo.lgm import LatentGeometryModel
from vggrpo.video import build_tiny_pipeline

SMALL = {"vae": {"base_dim": 8, "dim_mult": [1, 1, 1, 1]},
         "transformer": {"num_attention_heads": 2, "attention_head_dim": 12, "ffn_dim": 32, "num_layers": 2, "text_dim": 32},
         "text_encoder": {"d_model": 32, "d_kv": 8, "d_ff": 37, "num_layers": 2}}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    "A small random pipeline and LGM saved as folders (32x32 clips: 4x4 latent grid)."
    root = tmp_path_factory.mktemp("models")
    build_tiny_pipeline(0, SMALL).save_pretrained(root / "pipeline")
    torch.manual_seed(0)
    phi = GeometryModel(sample_size=32, hidden_size=32, num_layers=2, num_heads=2, head_channels=16, camera_depth=1)
    LatentGeometryModel.from_geomodel(phi, 1).save_pretrained(root / "lgm")
    return root


def write_config(folder, models, **overrides):
    config = {"pipeline": str(models / "pipeline"), "lgm": str(models / "lgm"), "output_dir": str(folder / "run"),
              "prompts": ["a red box on a checker floor, handheld", "a blue ball rolls, the camera orbits left"],
              "group_size": 2, "prompts_per_step": 1, "num_inference_steps": 3, "num_frames": 9, "height": 32, "width": 32,
              "lora_rank": 2, "lora_alpha": 4, "max_sequence_length": 32, "num_steps": 2, "checkpoint_every": 1, **overrides}
    path = folder / "run.json"
    path.write_text(json.dumps(config))
    return path


def run(*args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)


def test_train_cli_writes_checkpoint_metrics_and_lora(tmp_path, models):
    config = write_config(tmp_path, models, motion_every=2, motion_prompts=1)  # a held-out motion check at step 2
    result = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(config))
    assert result.returncode == 0, result.stderr[-2000:]
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [1, 2]
    assert "motion_ratio" not in json.loads(lines[0]) and json.loads(lines[1])["motion_reference"] > 0
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2
    lora = load_file(tmp_path / "run" / "lora" / "pytorch_lora_weights.safetensors")
    assert lora and all(torch.isfinite(v).all() for v in lora.values())
    # running again without --resume refuses to touch the run
    again = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(tmp_path / "run.json"))
    assert again.returncode != 0 and "already holds a checkpoint" in again.stderr
    resumed = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(tmp_path / "run.json"), "--resume", "--steps", "3")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()) == 3


def test_train_cli_bad_config_is_a_clear_error(tmp_path, models):
    path = write_config(tmp_path, models, learning_rat=1e-3)
    result = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(path))
    assert result.returncode == 2 and "unknown keys ['learning_rat']" in result.stderr
    result = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "no such file" in result.stderr


def test_corrupt_checkpoint_is_reported_not_overwritten(tmp_path, models):
    path = write_config(tmp_path, models)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    result = run(sys.executable, "-m", "vggrpo.cli", "train", "--config", str(path), "--resume")
    assert result.returncode != 0 and "unreadable" in result.stderr
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == b"not a checkpoint"
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "run" / "checkpoint.pt")


def test_two_process_ddp_on_cpu(tmp_path, models):
    """Two CPU processes (gloo, as `torchrun`/`accelerate launch` start them): both ranks train, one checkpoint.

    (`accelerate launch --cpu --num_processes 2` starts ONE process unless MPI is set up, so the test uses torchrun.)"""
    path = write_config(tmp_path, models)
    result = run(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", "-m", "vggrpo.cli", "train", "--config", str(path))
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    assert all(r["num_processes"] == 2 for r in records)
    assert all(abs(r["ratio_mean"] - 1) < 1e-3 for r in records)  # one inner epoch: ratios stay at 1 up to clipping
    assert load_checkpoint(tmp_path / "run" / "checkpoint.pt")["step"] == 2


def test_multi_gpu_script_keeps_ranks_in_sync_on_cpu(tmp_path):
    "The multi-GPU benchmark script on 2 CPU processes: different samples per rank, identical LoRA weights after the update."
    script = os.path.join(os.path.dirname(__file__), "..", "nbs", "scripts", "14_multi_gpu.py")
    out = tmp_path / "x2.json"
    result = run(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", script, "--out", str(out), "--steps", "1",
                 "--warmup-steps", "0", "--group-size", "3", "--prompts-per-step", "1")
    # groups of 3: with 2 videos, the two z-scored reward terms are ±1 each and cancel whenever they rank the pair oppositely
    # (zero advantages, zero gradient); with 3 they cancel only if one term is an exact affine reversal of the other
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["num_processes"] == 2 and report["videos_per_step"] == 6
    assert report["history"][0]["grad_norm"] > 0  # the update changed the adapter...
    assert report["lora_max_rank_difference"] == 0.0  # ...in exactly the same way on both ranks


def test_group_advantages_do_not_mix_groups():
    rewards = torch.tensor([0.0, 1.0, 100.0, 101.0])
    advantages = group_advantages(rewards, torch.tensor([0, 0, 1, 1]))
    assert torch.allclose(advantages, torch.tensor([-1.0, 1.0, -1.0, 1.0]))


def test_config_fingerprint_ignores_run_length():
    a, b = GRPOConfig(num_steps=10), GRPOConfig(num_steps=99, checkpoint_every=3)
    assert a.fingerprint_fields() == b.fingerprint_fields()
    assert GRPOConfig(lora_rank=8).fingerprint_fields() != a.fingerprint_fields()


def test_trainer_logs_the_denoising_guard():
    "With guard data, every `guard_every` steps the record carries policy/reference flow-matching losses; step 1 starts at ratio 1."
    from vggrpo.grpo import GRPOTrainer, denoising_guard, guard_data_from_worlds

    pipeline = build_tiny_pipeline(0, SMALL)
    guard = guard_data_from_worlds(pipeline, num_clips=2, num_frames=9, height=32, width=32, max_sequence_length=32)
    reward = lambda latents: (latents[:, 0].flatten(1).mean(1), {"channel0": latents[:, 0].flatten(1).mean(1)})
    config = GRPOConfig(group_size=2, prompts_per_step=1, num_inference_steps=3, num_frames=9, height=32, width=32,
                        lora_rank=2, lora_alpha=4, max_sequence_length=32, learning_rate=1e-2, guard_every=2)
    trainer = GRPOTrainer(pipeline, reward, ["a red box"], config, guard_data=guard)
    assert abs(denoising_guard(trainer.model, *guard)["ratio"] - 1) < 1e-6
    first, second = trainer.train_step(), trainer.train_step()
    assert "guard_ratio" not in first
    assert {"guard_policy", "guard_reference", "guard_ratio"} <= set(second)
    assert second["guard_policy"] > 0 and second["guard_reference"] > 0


def test_trainer_logs_the_latent_motion_of_its_rollouts():
    "Every record carries the mean `latent_motion` of that step's rollout latents (the decode-free stillness check)."
    from vggrpo.grpo import GRPOTrainer, latent_motion

    pipeline = build_tiny_pipeline(0, SMALL)
    reward = lambda latents: (latents[:, 0].flatten(1).mean(1), {"channel0": latents[:, 0].flatten(1).mean(1)})
    config = GRPOConfig(group_size=2, prompts_per_step=2, num_inference_steps=3, num_frames=9, height=32, width=32,
                        lora_rank=2, lora_alpha=4, max_sequence_length=32)
    trainer = GRPOTrainer(pipeline, reward, ["a red box", "a blue ball"], config)
    rollouts, sample = [], trainer.sample
    trainer.sample = lambda step: rollouts.append(sample(step)) or rollouts[-1]
    record = trainer.train_step()
    expected = latent_motion(rollouts[0].final_latents)
    assert expected.shape == (4,) and (expected > 0).all()
    assert record["latent_motion_mean"] == pytest.approx(expected.mean().item(), rel=1e-6)


def test_trainer_checks_held_out_motion_every_n_steps():
    "With `motion_every`, records carry `latent_motion` of fixed-noise samples on held-out prompts: policy, base model, ratio."
    from vggrpo.grpo import GRPOTrainer, latent_motion
    from vggrpo.sde import rollout

    pipeline = build_tiny_pipeline(0, SMALL)
    reward = lambda latents: (latents[:, 0].flatten(1).mean(1), {"channel0": latents[:, 0].flatten(1).mean(1)})
    config = GRPOConfig(group_size=2, prompts_per_step=1, num_inference_steps=3, num_frames=9, height=32, width=32,
                        lora_rank=2, lora_alpha=4, max_sequence_length=32, learning_rate=1e-2, motion_every=2)
    held_out = ["a green cone, handheld", "a yellow box, the camera orbits"]
    base = rollout(pipeline, held_out, group_size=1, num_inference_steps=3, guidance_scale=config.guidance_scale, noise_level=0.0,
                   num_frames=9, height=32, width=32, max_sequence_length=32, seed=config.seed).final_latents
    trainer = GRPOTrainer(pipeline, reward, ["a red box"], config, motion_prompts=held_out)
    first, second = trainer.train_step(), trainer.train_step()
    assert not any(k.startswith("motion_") for k in first)
    assert second["motion_reference"] == pytest.approx(latent_motion(base).mean().item(), rel=1e-5)
    assert second["motion_policy"] > 0
    assert second["motion_ratio"] == pytest.approx(second["motion_policy"] / second["motion_reference"])
    assert GRPOConfig(motion_every=5).fingerprint_fields() == GRPOConfig().fingerprint_fields()  # it only watches the run
