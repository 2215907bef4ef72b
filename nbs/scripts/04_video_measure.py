"""CPU measurements of the shipped tiny Wan (2 threads): cost, reconstruction, gallery, colour adherence.

python nbs/scripts/04_video_measure.py   (writes nbs/results/04_video_cpu.json and nbs/images/04_*.png)
"""
import json, os, time
from pathlib import Path

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from vggrpo.video import (TINY_WEIGHTS, count_parameters, colour_adherence, decode_latents, encode_video, latent_shape,
                          load_pipeline, psnr, sample_videos, ssim)
from vggrpo.worlds import render_clip

torch.set_num_threads(2)
root = Path(__file__).resolve().parents[1]
res = {"load_average_1_5_15_min": [round(x, 2) for x in os.getloadavg()]}  # other jobs on the cores inflate the timings
t = time.perf_counter(); pipe = load_pipeline("tiny"); res["load_s"] = round(time.perf_counter() - t, 2)
res["weights_mb"] = round(sum(f.stat().st_size for f in TINY_WEIGHTS.rglob("*") if f.is_file()) / 2**20, 1)
res["params_m"] = {n: round(count_parameters(getattr(pipe, n)) / 1e6, 2) for n in ("vae", "transformer", "text_encoder")}
res["latent_shape"] = list(latent_shape())

val = [render_clip(1_000_000 + i) for i in range(8)]
x = torch.stack([c.rgb for c in val])
def timed(f, n=1):
    f(); t = time.perf_counter()
    for _ in range(n): out = f()
    return out, round((time.perf_counter() - t) / n, 3)
z, res["encode_s_per_clip"] = timed(lambda: encode_video(pipe, x[:1]))
_, res["decode_s_per_clip"] = timed(lambda: decode_latents(pipe, z))
emb, _ = pipe.encode_prompt(val[0].prompt, do_classifier_free_guidance=False, max_sequence_length=512)
with torch.no_grad():
    _, res["transformer_step_s_batch1"] = timed(lambda: pipe.transformer(z, torch.tensor([500.0]), emb, return_dict=False), 5)
t = time.perf_counter(); sample_videos(pipe, val[0].prompt, num_inference_steps=20, decode=False)
res["sample_20_steps_cfg_s"] = round(time.perf_counter() - t, 2)
print(res, flush=True)

recon = torch.cat([decode_latents(pipe, encode_video(pipe, x[i:i + 4])) for i in range(0, 8, 4)])
res["vae_heldout_8"] = dict(psnr=round(float(psnr(recon, x).mean()), 2), ssim=round(float(ssim(recon, x).mean()), 3),
                             psnr_min=round(float(psnr(recon, x).min()), 2),
                             # the VAE was trained on 17-frame crops: the first 17 frames vs later chunk positions it never saw
                             psnr_frames_0_16=round(float(psnr(recon[:, :, :17], x[:, :, :17]).mean()), 2),
                             psnr_frames_17_32=round(float(psnr(recon[:, :, 17:], x[:, :, 17:]).mean()), 2))
fig, axes = plt.subplots(4, 6, figsize=(12, 8.4))
for r in range(2):
    for j, f in enumerate((0, 8, 16, 20, 28, 32)):
        axes[2 * r, j].imshow(((x[r, :, f].permute(1, 2, 0) + 1) / 2).clamp(0, 1)); axes[2 * r, j].set_title(f"original t={f}", fontsize=8)
        axes[2 * r + 1, j].imshow(((recon[r, :, f].permute(1, 2, 0) + 1) / 2).clamp(0, 1)); axes[2 * r + 1, j].set_title(f"VAE t={f}", fontsize=8)
for a in axes.flat: a.axis("off")
fig.tight_layout(); fig.savefig(root / "images/04_reconstructions.png", dpi=60); plt.close(fig)

# gallery: held-out prompts (test split) of each kind
picks = {}
for s in range(1_010_000, 1_010_400):
    c = render_clip(s, num_frames=5, height=16, width=16)
    key = ("dynamic" if c.scene.dynamic else "static") + ", " + ("handheld" if c.shake.handheld else "steady")
    if key not in picks: picks[key] = s
    if len(picks) == 4: break
gallery = {k: render_clip(s) for k, s in sorted(picks.items())}
prompts = [c.prompt for c in gallery.values()]
_, gen = sample_videos(pipe, prompts, num_inference_steps=20, seed=0)
fig, axes = plt.subplots(8, 6, figsize=(9, 13.5), gridspec_kw=dict(hspace=0.35, wspace=0.05))
for i, (k, c) in enumerate(gallery.items()):
    for j, f in enumerate((0, 8, 16, 20, 28, 32)):
        axes[2 * i, j].imshow(((c.rgb[:, f].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
        axes[2 * i + 1, j].imshow(((gen[i, :, f].permute(1, 2, 0) + 1) / 2).clamp(0, 1))
        axes[2 * i, j].set_title(f"t={f}", fontsize=7)
    axes[2 * i, 0].set_ylabel(f"world\n{k}", fontsize=7); axes[2 * i + 1, 0].set_ylabel("generated", fontsize=7)
for a in axes.flat: a.set_xticks([]); a.set_yticks([])
fig.savefig(root / "images/04_gallery.png", dpi=72, bbox_inches="tight"); plt.close(fig)
res["gallery_prompts"] = {k: c.prompt for k, c in gallery.items()}

# colour adherence on 32 held-out prompts: generated vs the real clip vs a shuffled-prompt baseline
print(res, flush=True)
test = [render_clip(1_010_000 + i) for i in range(16)]
tp = [c.prompt for c in test]
gens = torch.cat([sample_videos(pipe, tp[i:i + 8], num_inference_steps=20, seed=1)[1] for i in range(0, 16, 8)])
res["colour_adherence"] = dict(generated=colour_adherence(gens, tp), real=colour_adherence(torch.stack([c.rgb for c in test]), tp),
                               generated_vs_shuffled_prompts=colour_adherence(gens, tp[1:] + tp[:1]))
(root / "results/04_video_cpu.json").write_text(json.dumps(res, indent=1))
print(json.dumps(res, indent=1))
