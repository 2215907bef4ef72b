"""Are the base model's samples off the VAE encoder's distribution? Statistics of generated vs encoded latents (CPU, a few minutes).

python nbs/scripts/06_latent_statistics.py   (writes nbs/results/06_lgm_latent_stats.json)
64 test-split worlds: their clips encoded by the tiny Wan VAE, and latents the base model samples for their prompts with the
SDE sampler GRPO uses (10 steps, guidance 4), as in 06's generated-latent test.
"""
import json, time
from pathlib import Path

import torch

from vggrpo.lgm import _prompts, encoded_clip_data
from vggrpo.sde import rollout
from vggrpo.video import encode_video, load_pipeline
from vggrpo.worlds import split_seeds

torch.set_num_threads(2)
t0 = time.perf_counter()
pipe = load_pipeline("tiny")
seeds = split_seeds("test", 64)
real = encoded_clip_data(seeds, lambda v: encode_video(pipe, v), batch_size=16)["latents"]
gen = torch.cat([rollout(pipe, _prompts(seeds[i:i + 16]), group_size=1, seed=10 ** 6 + i, num_inference_steps=10,
                         guidance_scale=4.0).final_latents.float() for i in range(0, 64, 16)])

def stats(z):  # z [N, 16, T', h, w]
    spec = torch.fft.rfft2(z).abs() ** 2  # spatial power spectrum per frame and channel
    fy = torch.fft.fftfreq(z.shape[-2]).abs()[:, None]; fx = torch.fft.rfftfreq(z.shape[-1])[None]
    high = (torch.maximum(fy, fx) > 0.25).to(spec)  # above half the Nyquist frequency
    return dict(mean_abs_channel_mean=float(z.mean((0, 2, 3, 4)).abs().mean()), channel_std=float(z.std((0, 2, 3, 4)).mean()),
                high_frequency_share=float((spec * high).sum() / (spec.sum() - spec[..., 0, 0].sum())),
                temporal_change=float((z[:, :, 1:] - z[:, :, :-1]).pow(2).mean() / z.var()))
res = {"clips": len(real), "encoded_real": stats(real), "generated": stats(gen), "seconds": time.perf_counter() - t0}
(Path(__file__).resolve().parents[1] / "results/06_lgm_latent_stats.json").write_text(json.dumps(res, indent=1))
print(json.dumps(res, indent=1))
