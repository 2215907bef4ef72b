"""Where in the clip does the tiny VAE lose detail? Per-frame reconstruction PSNR of the shipped VAE on held-out clips (CPU, about 2 minutes).

python nbs/scripts/04_vae_per_frame.py   (from the repo root; writes nbs/results/04_vae_per_frame.json)
Wan's causal VAE encodes frame 0 alone into the first latent frame and every later group of four frames into one latent
frame. So frame 0 is compressed only spatially (8 x 8 pixels -> 16 numbers, 12x), the others also in time (4 x 8 x 8 x 3
-> 16, 48x). If frame 0 reconstructs much better than the rest, the temporal compression costs the difference; if not,
the spatial compression is the limit. Same 64 validation worlds as 04's held-out check, posterior mode, as
`reconstruction_metrics`.
"""
import json, time
from pathlib import Path
import torch
from vggrpo.video import decode_latents, encode_video, load_pipeline, psnr, render_world_clips, to_pixels
from vggrpo.worlds import split_seeds

torch.set_num_threads(2)
t0 = time.perf_counter()
pipe = load_pipeline("tiny")
clips, prompts, info = render_world_clips(split_seeds("validation", 64), progress=False)
frame_psnr, clip_psnr = [], []
with torch.no_grad():
    for i in range(0, len(clips), 8):
        x = to_pixels(clips[i:i + 8])
        r = decode_latents(pipe, encode_video(pipe, x)).float()
        clip_psnr.append(psnr(r, x))  # as reconstruction_metrics: PSNR of each whole clip
        frames = lambda v: v.transpose(1, 2).flatten(0, 1)  # [B, 3, T, H, W] -> [B*T, 3, H, W]
        frame_psnr.append(psnr(frames(r), frames(x)).view(len(x), -1))  # [B, T]
frame_psnr, clip_psnr = torch.cat(frame_psnr), torch.cat(clip_psnr).mean()
per_frame = frame_psnr.mean(0)  # mean over clips of per-frame PSNR
position = torch.arange(frame_psnr.shape[1])
groups = {"frame 0 (alone in its latent frame)": position == 0}
for k in range(4): groups[f"position {k} in a group of four (frames {k + 1}, {k + 5}, ...)"] = (position > 0) & ((position - 1) % 4 == k)
record = {"about": __doc__.split("\n")[0], "clips": len(clips), "frames": int(frame_psnr.shape[1]), "clip_psnr_db": float(clip_psnr),
          "psnr_db_per_frame": per_frame.tolist(),
          "psnr_db_by_position": {name: float(per_frame[m].mean()) for name, m in groups.items()},
          "handheld_share": info["handheld"], "dynamic_share": info["dynamic"], "seconds": time.perf_counter() - t0}
Path("nbs/results/04_vae_per_frame.json").write_text(json.dumps(record, indent=1))
print(json.dumps({k: v for k, v in record.items() if k != "psnr_db_per_frame"}, indent=1))
print("per frame:", " ".join(f"{v:.1f}" for v in per_frame.tolist()))
