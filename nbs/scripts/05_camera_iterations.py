"""Does the shipped Φ's iterative camera head gain from more iterations at test time? (CPU, about 7 minutes on 2 cores)

python nbs/scripts/05_camera_iterations.py   (writes nbs/results/05_geomodel_camera_iterations.json: the 256 test clips, iterations 2..8)
"""
import json, time
from pathlib import Path

import torch
torch.set_num_threads(2)
from vggrpo.geomodel import GeometryModel, clip_batch, clip_metrics, summarize_metrics, GeometryModelOutput
from vggrpo.geometry import cameras_from_pose_encoding
from vggrpo.worlds import render_clip, split_seeds
phi = GeometryModel.from_pretrained().eval()
phi.camera_head.iterations = 8
seeds = list(split_seeds("test", 256)); rows = {i: [] for i in (2, 3, 4, 5, 6, 8)}
t0 = time.time()
with torch.no_grad():
    for b in range(0, len(seeds), 16):
        clips = [render_clip(s, 33, 64, 64, flow_stride=4) for s in seeds[b:b + 16]]
        batch = clip_batch(clips, 4)
        out = phi(batch["video"])
        for it in rows:
            c2w, K = cameras_from_pose_encoding(out.pose_enc_list[it - 1], (64, 64))
            o = GeometryModelOutput(**{**dict(out.items()), "pose_enc": out.pose_enc_list[it - 1], "c2w": c2w, "K": K})
            for c, r in zip(clips, clip_metrics(o, batch)): rows[it].append(dict(seed=c.seed, dynamic=c.scene.dynamic, **r))
res = {it: summarize_metrics(r) for it, r in rows.items()}
for it, s in res.items():
    print(it, {k: (round(s[k]["rotation_error_deg"], 3), round(s[k]["translation_direction_error_deg"], 2), round(s[k]["fov_error_deg"], 3)) for k in ("static", "dynamic")}, flush=True)
print(time.time() - t0)
(Path(__file__).resolve().parents[1] / "results/05_geomodel_camera_iterations.json").write_text(json.dumps(res, indent=1, default=float))
