"Tests of vggrpo.video as a user imports it: tiny pipeline, latent round trip, loading, training resume."
import json
import os
import subprocess
import sys
import time

import pytest
import torch
from diffusers import WanPipeline

from vggrpo.video import (
    NUM_FRAMES,
    TINY_WEIGHTS,
    TrainConfig,
    build_tiny_pipeline,
    check_pipeline_folder,
    decode_latents,
    encode_video,
    latent_shape,
    load_pipeline,
    psnr,
    sample_videos,
    ssim,
    train_base,
    train_base_cli,
)
from vggrpo.worlds import render_clip

MICRO = {"vae": {"base_dim": 8, "dim_mult": [1, 1, 1, 1]}, "transformer": {"num_layers": 1, "num_attention_heads": 2}}


@pytest.fixture(scope="module")
def micro():
    return build_tiny_pipeline(0, MICRO)


@pytest.fixture(scope="module")
def tiny():
    return load_pipeline("tiny")


def test_latent_shape_and_normalisation_match_wan_pipeline(micro):
    vae = micro.vae
    vae.register_to_config(latents_mean=[0.1 * i for i in range(16)], latents_std=[1.0 + 0.05 * i for i in range(16)])
    x = torch.rand(2, 3, 9, 32, 48) * 2 - 1
    z = encode_video(micro, x)
    assert z.shape == (2, 16, 3, 4, 6)
    raw = vae.encode(x).latent_dist.mode()
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    torch.testing.assert_close(z, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    # what WanPipeline does after its sampling loop, written out
    out = micro(prompt="x", num_inference_steps=1, num_frames=9, height=32, width=48, output_type="pt",
                latents=z[:1], guidance_scale=1.0).frames
    assert out.shape[1] == 9  # [B, T, C, H, W] in [0, 1] from the video processor
    torch.testing.assert_close(decode_latents(micro, z[:1]).shape, torch.Size([1, 3, 9, 32, 48]))


def test_single_clip_keeps_no_batch_axis(micro):
    x = torch.rand(3, 5, 16, 16) * 2 - 1
    z = encode_video(micro, x)
    assert z.shape == (16, 2, 2, 2)
    assert decode_latents(micro, z).shape == x.shape


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(3, 8, 16, 16), "4k \\+ 1"),
    (torch.zeros(3, 5, 24, 16), "multiples of 16"),
    (torch.zeros(2, 5, 16, 16), "shape"),
    (torch.full((3, 5, 16, 16), 2.0), "\\[-1, 1\\]"),
])
def test_encode_rejects_bad_video(micro, bad, match):
    with pytest.raises(ValueError, match=match):
        encode_video(micro, bad)


def test_encode_rejects_non_float_and_wrong_model(micro):
    with pytest.raises(TypeError, match="float"):
        encode_video(micro, torch.zeros(3, 5, 16, 16, dtype=torch.uint8))
    with pytest.raises(TypeError, match="WanPipeline or AutoencoderKLWan"):
        encode_video(micro.transformer, torch.zeros(3, 5, 16, 16))
    with pytest.raises(ValueError, match="latents"):
        decode_latents(micro, torch.zeros(1, 4, 2, 2, 2))


def test_save_pretrained_folder_loads_offline_with_same_weights(micro, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    micro.save_pretrained(tmp_path / "wan")
    pipe = load_pipeline(tmp_path / "wan")
    assert isinstance(pipe, WanPipeline)
    for a, b in zip(pipe.transformer.parameters(), micro.transformer.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert pipe.tokenizer("ab").input_ids == micro.tokenizer("ab").input_ids


@pytest.mark.parametrize("remove, message", [
    ("model_index.json", "model_index.json is missing"),
    ("vae/diffusion_pytorch_model.safetensors", "vae/ weights"),
    ("transformer/config.json", "transformer/config.json"),
    ("scheduler", "folder scheduler/"),
])
def test_incomplete_folder_names_what_is_missing(micro, tmp_path, remove, message):
    import shutil
    micro.save_pretrained(tmp_path / "wan")
    target = tmp_path / "wan" / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(FileNotFoundError, match=message):
        load_pipeline(tmp_path / "wan")


def test_missing_folder_and_bad_json(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load_pipeline(tmp_path / "nothing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "model_index.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        check_pipeline_folder(tmp_path / "bad")
    with pytest.raises(TypeError, match="name_or_path"):
        load_pipeline(3)


def test_shipped_tiny_weights_small_and_fast_to_load():
    size = sum(f.stat().st_size for f in TINY_WEIGHTS.rglob("*") if f.is_file())
    assert size <= 50 * 2**20, f"{size / 2**20:.1f} MB"
    t = time.perf_counter()
    pipe = load_pipeline("tiny")
    assert time.perf_counter() - t < 30  # target 5 s on an idle CPU; generous for shared CI runners
    assert pipe.transformer.dtype == torch.float32
    assert len(pipe.vae.config.latents_mean) == 16


def test_tiny_vae_reconstructs_held_out_worlds(tiny):
    clips = torch.stack([render_clip(s).rgb for s in (1_000_000, 1_000_001)])
    recon = decode_latents(tiny, encode_video(tiny, clips))
    # measured 23.4 dB / 0.68 mean on 64 held-out clips (04_decoder_gpu.json, full_run call2; 21.9 dB / 0.63 with the decoder
    # before), min 20.8 dB on the 8 of 04_video_cpu.json; untrained: ~10 dB
    assert psnr(recon, clips).min() > 20
    assert ssim(recon, clips).min() > 0.5
    # statistics in the config make the latents roughly standardised
    z = encode_video(tiny, clips)
    assert 0.3 < float(z.std()) < 3.0 and abs(float(z.mean())) < 1.0


def test_tiny_sampling_is_deterministic_and_shaped(tiny):
    lat1, vid = sample_videos(tiny, ["A red box on a checkered floor, the camera is static, steady"], num_inference_steps=3, seed=5)
    lat2, _ = sample_videos(tiny, ["A red box on a checkered floor, the camera is static, steady"], num_inference_steps=3, seed=5, decode=False)
    assert lat1.shape == (1,) + latent_shape()
    assert vid.shape == (1, 3, NUM_FRAMES, 64, 64) and vid.abs().max() <= 1
    torch.testing.assert_close(lat1, lat2)


def test_sample_videos_bad_arguments(micro):
    with pytest.raises(TypeError, match="prompts"):
        sample_videos(micro, [1])
    with pytest.raises(ValueError, match="4k \\+ 1"):
        sample_videos(micro, "x", num_frames=8)


def test_with_new_decoder_keeps_the_encoder_and_latents(micro):
    from vggrpo.video import with_new_decoder
    wide = with_new_decoder(micro.vae, 12, seed=1)
    enc = {k: v for k, v in micro.vae.state_dict().items() if k.startswith(("encoder.", "quant_conv."))}
    assert all(torch.equal(wide.state_dict()[k], v) for k, v in enc.items())
    assert wide.config.decoder_base_dim == 12 and wide.config.latents_std == micro.vae.config.latents_std
    x = torch.rand(1, 3, 5, 16, 16) * 2 - 1
    with torch.no_grad():
        assert torch.equal(wide.encode(x).latent_dist.mode(), micro.vae.encode(x).latent_dist.mode())
    again = with_new_decoder(micro.vae, 12, seed=1)  # seeded: the same new decoder, and the global RNG untouched
    state = torch.random.get_rng_state(); with_new_decoder(micro.vae, seed=2)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(wide.decoder.parameters(), again.decoder.parameters()))
    assert with_new_decoder(micro.vae).config.decoder_base_dim == micro.vae.config.base_dim
    with pytest.raises(ValueError, match="positive"): with_new_decoder(micro.vae, -4)


def test_psnr_ssim_properties():
    x = torch.rand(2, 3, 5, 16, 16) * 2 - 1
    assert torch.isclose(ssim(x, x), torch.ones(2)).all()
    noisy = (x + 0.1 * torch.randn_like(x)).clamp(-1, 1)
    assert (psnr(noisy, x) > 20).all() and (psnr(noisy, x) < 40).all()
    assert (ssim(noisy, x) < 1).all()


def test_train_base_micro_run_saves_and_resumes(tmp_path):
    common = dict(output_dir=str(tmp_path / "run"), num_train_clips=3, num_val_clips=1, vae_batch_size=1, vae_frames=5,
                  dit_batch_size=2, checkpoint_every=2, log_every=1, warmup_steps=1, model_config=json.dumps(MICRO),
                  render_device="cpu")
    train_base(TrainConfig(**common, vae_steps=2, dit_steps=2))
    out = tmp_path / "run"
    assert (out / "checkpoint-dit-2").is_dir() and (out / "pipeline" / "model_index.json").is_file()
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history if h["stage"] == "dit"] == [1, 2]
    # resume: more DiT steps continue from step 2; the VAE stage (already at its step count) does nothing
    assert train_base_cli(["--output-dir", str(out), "--num-train-clips", "3", "--num-val-clips", "1", "--vae-steps", "2",
                           "--vae-batch-size", "1", "--vae-frames", "5", "--dit-steps", "3", "--dit-batch-size", "2",
                           "--checkpoint-every", "2", "--log-every", "1", "--warmup-steps", "1",
                           "--model-config", json.dumps(MICRO), "--render-device", "cpu"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["step"] for h in history if h["stage"] == "dit"] == [1, 2, 3]
    assert [h["step"] for h in history if h["stage"] == "vae"] == [1, 2]
    assert (out / "checkpoint-dit-3").is_dir()
    pipe = load_pipeline(out / "pipeline")
    assert pipe.transformer.config.num_layers == 1


def test_budget_before_a_deadline():
    from vggrpo.video import _budget_before
    assert _budget_before(7.0, 0.0) == 7.0 and _budget_before(0.0, 0.0) == 0.0  # no deadline: the stage's own budget
    now = time.perf_counter()
    assert 9.0 < _budget_before(0.0, now + 10) <= 10.0  # no budget of its own: what is left before the deadline
    assert _budget_before(5.0, now + 10) == 5.0  # a budget shorter than what is left stays
    assert 109.0 < _budget_before(0.0, now + 10, done_s=100.0) <= 110.0  # a resumed stage keeps the time it already ran
    assert _budget_before(0.0, now - 10, done_s=3.0) == 3.0 + 1e-3  # past the deadline: nothing more in this run


def test_train_base_stops_by_its_time_limit(tmp_path):
    "With step and time budgets far beyond the limit (60 s bounds the test if the limit were ignored), the DiT stage stops early enough to save within time_limit_s."
    cfg = dict(output_dir=str(tmp_path / "run"), num_train_clips=3, num_val_clips=1, stages="dit", dit_steps=10 ** 6, dit_time_budget_s=60.0,
               dit_batch_size=2, checkpoint_every=0, log_every=1, warmup_steps=1, model_config=json.dumps(MICRO), render_device="cpu")
    with pytest.raises(ValueError, match="save_reserve_s"):
        train_base(TrainConfig(**cfg, time_limit_s=5.0, save_reserve_s=5.0))
    train_base(TrainConfig(**cfg, time_limit_s=12.0, save_reserve_s=4.0))
    dit = [h for h in json.loads((tmp_path / "run" / "history.json").read_text()) if h["stage"] == "dit"]
    assert dit and dit[-1]["step"] < 10 ** 6 and dit[-1]["time"] <= 8.0  # stopped by the deadline, 4 s before the limit
    assert (tmp_path / "run" / "pipeline" / "model_index.json").is_file()


def test_stage_seeds_differ_across_ranks():
    "Each process draws its own batches and noise; rank 0 keeps the single-process seeds, so one-GPU runs are unchanged."
    from vggrpo.video import _stage_seed
    assert _stage_seed(0, 5, 0) == 5 and _stage_seed(2, 5, 0) == 2 * 1_000_003 + 5
    seeds = {_stage_seed(s, step, rank) for s in range(3) for step in range(100) for rank in range(8)}
    assert len(seeds) == 3 * 100 * 8


def test_train_base_on_two_processes_with_a_time_budget(tmp_path):
    """`vggrpo train-base` on two CPU processes (torchrun, gloo): each renders its own half of the worlds, both stages run
    under DDP, the ranks agree on when the DiT's time budget ends (a rank that stopped alone would hang the other's
    all-reduce), and the pipeline is saved."""
    out = tmp_path / "run"
    args = ["--output-dir", str(out), "--num-train-clips", "4", "--num-val-clips", "1", "--vae-steps", "2", "--vae-batch-size", "1",
            "--vae-frames", "5", "--dit-steps", "100000", "--dit-time-budget-s", "4", "--dit-batch-size", "2", "--checkpoint-every", "2",
            "--log-every", "1", "--warmup-steps", "1", "--model-config", json.dumps(MICRO), "--render-device", "cpu"]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone", "-m", "vggrpo.cli",
                             "train-base", *args], capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    history = json.loads((out / "history.json").read_text())
    dit = [h for h in history if h["stage"] == "dit"]
    assert [h["step"] for h in history if h["stage"] == "vae"] == [1, 2]
    assert len(dit) >= 2 and dit[-1]["time"] >= 4 and dit[-1]["step"] < 100000  # stopped by the budget, not the step count
    info = json.loads((out / "info.json").read_text())
    assert info["clips"] == 4 and info["clips_per_process"] == [2, 2]  # each process rendered its own half of the worlds
    last = max(out.glob("checkpoint-dit-*"), key=lambda p: int(p.name.rsplit("-", 1)[1]))
    assert int(last.name.rsplit("-", 1)[1]) == dit[-1]["step"]  # the budget's last step was checkpointed...
    assert {p.name for p in last.glob("random_states_*.pkl")} == {"random_states_0.pkl", "random_states_1.pkl"}  # ...by both ranks
    assert load_pipeline(out / "pipeline").transformer.config.num_layers == 1


def test_train_base_decoder_only_keeps_the_latents(tmp_path):
    "vae_train_encoder=False trains the decoder alone: the encoder and the latent statistics, which the DiT and the LGM read, stay exactly as they were."
    common = dict(num_train_clips=2, num_val_clips=1, vae_steps=3, vae_batch_size=1, vae_frames=5, checkpoint_every=0, log_every=1,
                  warmup_steps=1, model_config=json.dumps(MICRO), render_device="cpu", stages="vae")
    first = train_base(TrainConfig(output_dir=str(tmp_path / "a"), **common))
    second = train_base(TrainConfig(output_dir=str(tmp_path / "b"), init_from=str(tmp_path / "a" / "pipeline"), vae_train_encoder=False, **common))
    a, b = first.vae.state_dict(), second.vae.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a if k.startswith(("encoder.", "quant_conv.")))
    assert any(not torch.equal(a[k], b[k]) for k in a if k.startswith("decoder."))
    assert (first.vae.config.latents_mean, first.vae.config.latents_std) == (second.vae.config.latents_mean, second.vae.config.latents_std)
    assert all(p.requires_grad for p in second.vae.parameters())  # the returned pipeline is not left half frozen


def test_vae_size_pilot_script_runs(tmp_path):
    "nbs/scripts/04_vae_size_pilot.py (the GPU pilot behind 04's larger, smoother frames) end to end on the CPU with MICRO=1."
    script = os.path.join(os.path.dirname(__file__), "..", "nbs", "scripts", "04_vae_size_pilot.py")
    result = subprocess.run([sys.executable, script, str(tmp_path), "16:2:0.25:2,16:1:1.0:2"], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "MICRO": "1", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    rows = json.loads((tmp_path / "vae_size_pilot.json").read_text())["conditions"]
    assert [(r["size"], r["supersampling"], r["texture_scale"]) for r in rows.values()] == [(16, 2, 0.25), (16, 1, 1.0)]
    for r in rows.values():
        assert r["steps"] >= 1 and r["evals"][-1]["step"] == r["steps"] and r["train_clips"] >= 1
        assert r["bicubic"]["2x"] > r["bicubic"]["4x"] > r["bicubic"]["8x"]  # more pooling loses more
    assert rows["16px, supersampling 2, textures x0.25, batch 2"]["bicubic"]["2x"] > rows["16px, supersampling 1, textures x1, batch 2"]["bicubic"]["2x"]
