"""Φ's cameras before and after `refine_cameras` on the 256 test clips of the stage-7 metrics (see nbs/05_geomodel.ipynb,
"Test-time camera refinement"). GPU or CPU.

python nbs/scripts/05_refine_cameras.py OUT_JSON [NUM_CLIPS]
Writes {"feed_forward": evaluate_geomodel(...), "refined": evaluate_geomodel(..., refine={}), seconds of each, device}.
"""
import json, sys, time
from pathlib import Path

import torch

from vggrpo.geomodel import GeometryModel, evaluate_geomodel

out = Path(sys.argv[1])
num_clips = int(sys.argv[2]) if len(sys.argv) > 2 else 256
dev = "cuda" if torch.cuda.is_available() else "cpu"
phi = GeometryModel.from_pretrained().to(dev).eval()
result = dict(device=torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", num_clips=num_clips)
for name, refine in (("feed_forward", None), ("refined", {})):
    if dev == "cuda": torch.cuda.synchronize()
    t = time.perf_counter()
    run = evaluate_geomodel(phi, "test", num_clips, batch_size=16, device=dev, refine=refine)
    if dev == "cuda": torch.cuda.synchronize()
    result[name] = dict(seconds=round(time.perf_counter() - t, 1), **run)
    m = lambda key: " / ".join(f"{run['summary'][split].get(key, float('nan')):.3g}" for split in ("static", "dynamic"))
    print(f"{name:13s} {result[name]['seconds']:6.1f} s  rotation {m('rotation_error_deg')}°  translation direction "
          f"{m('translation_direction_error_deg')}°  ATE {m('ate_relative')}  (static / dynamic)", flush=True)
out.parent.mkdir(parents=True, exist_ok=True)
out.write_text(json.dumps(result))
