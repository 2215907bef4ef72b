"""13's independent check with more videos, on CPU: the base model and the LoRA of each GPU run, on N held-out prompts.

python nbs/scripts/13_more_videos.py OUT.json base=- seed0=PATH/gpu_grpo_lora.safetensors seed1=... [N]
(from the repo root; N held-out handheld prompts, default 64). Each prompt gets one video from fixed noise, the same for
every model (deterministic sampler, 20 steps, guidance 5, seed 1234 + the offset of its batch of 16), scored with the
shipped latent reward and decoded for the independent RGB metrics (epipolar error, inlier ratio, dynamic degree). The LoRA files are the `gpu_grpo_lora.safetensors` that 13_gpu_grpo.py writes, or PATH#stepN for the adapter after step N in its
`gpu_grpo_lora_snapshots.safetensors`.
"""
import sys

import torch
from vggrpo.evaluate import video_metrics
from vggrpo.video import decode_latents

from _adapters import score_models  # nbs/scripts/_adapters.py


def rows_of(pipe, scores):
    with torch.no_grad():
        videos = decode_latents(pipe, scores["latents"]).float().cpu()
    return [{"reward": float(scores["reward"][j]), **{k: float(v[j]) for k, v in scores["terms"].items()}, **video_metrics(video)}
            for j, video in enumerate(videos)]


if __name__ == "__main__":
    score_models(sys.argv[1:], rows_of)
