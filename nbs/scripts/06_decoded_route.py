"""The route the LGM replaces, on CPU: the shipped LGM on the latents of 06's 128 test clips vs Φ on the VAE-decoded frames.

python nbs/scripts/06_decoded_route.py   (from the repo root; about 10 minutes on 2 cores; writes nbs/results/06_lgm_decoded_route.json)
"""
import json, time
from pathlib import Path

import torch

from vggrpo.geomodel import GeometryModel
from vggrpo.lgm import LatentGeometryModel, encoded_test_clips, evaluate_lgm
from vggrpo.video import decode_latents, encode_video, load_pipeline

torch.set_num_threads(2)
root = Path(__file__).resolve().parents[1]
t0 = time.perf_counter()
pipe, phi, lgm = load_pipeline("tiny"), GeometryModel.from_pretrained().eval(), LatentGeometryModel.from_pretrained().eval()
encode, decode = (lambda v: encode_video(pipe, v)), (lambda z: decode_latents(pipe, z))
res = {}
for name, data in encoded_test_clips(encode, 128, batch_size=8).items():  # exactly train_lgm's test clips
    res[name] = evaluate_lgm(lgm, phi, data, batch_size=8, decode=decode)
    print(name, {k: round(res[name][k]["depth_absrel"], 4) for k in ("phi_vs_gt", "phi_decoded_vs_gt", "lgm_vs_gt")}, flush=True)
res["seconds"] = time.perf_counter() - t0
(root / "results/06_lgm_decoded_route.json").write_text(json.dumps(res, indent=1, default=float))
print(f"{res['seconds']:.0f} s")
