"""Can the latents see the videos grow stiller? 13's check of motion without decoding, on CPU.

python nbs/scripts/13_latent_motion.py OUT.json base=- NAME=PATH[#stepN] ... [N]
(from the repo root; the same N held-out prompts, noise and sampler as 13_more_videos.py, so video i here is video i
there). For each video it records, from the latents alone:
- `lgm_flow_px`: the image motion the LGM's geometry implies, in pixels per RGB frame at 64×64: each pixel's point
  (depth, camera), moved by the predicted scene flow, projected into the next latent frame's camera; the mean length of
  that displacement over the pixels in front of the camera, divided by the 4 RGB frames one latent frame spans. It is
  the LGM's reading of what `vggrpo.evaluate.dynamic_degree` measures on decoded RGB (Farnebäck flow).
- `lgm_camera_flow_px`: the same without the scene flow (the camera's share).
- `latent_change`: `vggrpo.grpo.latent_motion`, the mean |z_{t+1} − z_t| of consecutive latent frames after the first
  (the first is compressed only in space), in units of the normalised latents.
"""
import sys

import torch
from vggrpo.geometry import project_points, pixel_grid, unproject_depth
from vggrpo.grpo import latent_motion
from vggrpo.rewards import _batched_geometry

from _adapters import score_models  # nbs/scripts/_adapters.py

RGB_FRAMES_PER_LATENT_FRAME, FRAME_SIZE = 4, 64


def implied_flow(geometry, with_scene_flow=True):
    "Mean pixel displacement per RGB frame between consecutive latent frames `[B]`, from depth, cameras and scene flow."
    depth, K, c2w = _batched_geometry(geometry["depth"], geometry["K"], geometry["c2w"])  # float64, K per frame
    H, W = depth.shape[-2:]
    points = unproject_depth(depth, K, c2w)[:, :-1]  # [B, T-1, H, W, 3]
    if with_scene_flow and geometry.get("scene_flow") is not None:
        points = points + geometry["scene_flow"].double()[:, :-1]
    uv, z = project_points(points.flatten(2, 3), K[:, 1:], c2w[:, 1:])  # into the next frame's camera
    shift = (uv - pixel_grid(H, W, uv.dtype, uv.device).reshape(1, 1, H * W, 2)).norm(dim=-1)
    visible = (z > 0).double()
    mean = (shift * visible).sum((1, 2)) / visible.sum((1, 2)).clamp_min(1)
    return (mean * FRAME_SIZE / W / RGB_FRAMES_PER_LATENT_FRAME).float()


def rows_of(pipe, scores):
    geometry, latents = scores["geometry"], scores["latents"].float()
    measures = {"lgm_flow_px": implied_flow(geometry), "lgm_camera_flow_px": implied_flow(geometry, False),
                "latent_change": latent_motion(latents), "reward": scores["reward"]}
    return [{k: float(v[j]) for k, v in measures.items()} for j in range(len(latents))]


if __name__ == "__main__":
    score_models(sys.argv[1:], rows_of)
