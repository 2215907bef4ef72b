"""06's test clips split by the camera move their prompt names: the shipped LGM (latents) and Φ (RGB) vs ground truth, on CPU.

python nbs/scripts/06_by_move.py   (from the repo root; about 3 minutes on 2 cores; writes nbs/results/06_lgm_by_move.json)
Exactly `train_lgm`'s 128 test clips (`encoded_test_clips`), with per-clip metrics, so the ratios of 06's test table can be
read move by move: which moves make the static clips' translation direction 1.32× Φ's?
"""
import json, time
from pathlib import Path
import torch
from vggrpo.geomodel import GeometryModel, clip_metrics
from vggrpo.lgm import LatentGeometryModel, encoded_test_clips, prompt_camera_move
from vggrpo.video import encode_video, load_pipeline
from vggrpo.worlds import render_clip, split_seeds

torch.set_num_threads(2)
t0 = time.perf_counter()
pipe, phi, lgm = load_pipeline("tiny"), GeometryModel.from_pretrained().eval(), LatentGeometryModel.from_pretrained().eval()
seeds = split_seeds("test", 128)
fields = ("depth", "valid", "dynamic", "c2w", "K", "scene_flow")
res = {"clips": []}
with torch.no_grad():
    for split, data in encoded_test_clips(lambda v: encode_video(pipe, v), 128, batch_size=8).items():
        split_seeds_ = seeds[:64] if split == "static" else seeds[64:]
        for i in range(0, len(data["latents"]), 16):
            b = slice(i, i + 16)
            truth = {k: data[k][b] for k in fields}
            rows = zip(clip_metrics(lgm(data["latents"][b]), truth), clip_metrics(phi(data["video"][b]), truth))
            for j, (m_lgm, m_phi) in enumerate(rows):
                seed = int(split_seeds_[i + j])
                prompt = render_clip(seed, height=8, width=8, dynamic=split == "dynamic").prompt
                res["clips"].append({"split": split, "seed": seed, "move": prompt_camera_move(prompt), "lgm": m_lgm, "phi": m_phi})
res["seconds"] = time.perf_counter() - t0
Path("nbs/results/06_lgm_by_move.json").write_text(json.dumps(res, indent=1, default=float))
for split in ("static", "dynamic"):
    clips = [c for c in res["clips"] if c["split"] == split]
    for key in ("depth_absrel", "translation_direction_error_deg"):
        mean = lambda who: sum(c[who][key] for c in clips) / len(clips)
        print(split, key, f"LGM {mean('lgm'):.4f}  Φ {mean('phi'):.4f}")
print(f"{res['seconds']:.0f} s")
