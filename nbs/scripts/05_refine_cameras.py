"""Φ's cameras before and after `refine_cameras` on the 256 test clips of the stage-7 metrics (see nbs/05_geomodel.ipynb,
"Test-time camera refinement"). GPU or CPU.

python nbs/scripts/05_refine_cameras.py OUT_JSON [NUM_CLIPS] [VARIANTS_JSON] [SPLIT]
VARIANTS_JSON: a JSON dict {name: refine_cameras options}, default {"refined": {}} (the defaults); an option "oracle": ["K"]
(and/or "depth") is evaluate_geomodel's: ground truth replaces those outputs of Φ first.
Writes {"feed_forward": evaluate_geomodel(...), name: evaluate_geomodel(..., refine=options) for each variant, with the
seconds of each and its options, device, split, batch size, weights}. SPLIT: the world split, default test (choose options on validation).
Env: BATCH_SIZE (default 16), GEOMODEL (a folder of Φ weights saved by save_geomodel; default the shipped ones).
"""
import json, os, sys, time
from pathlib import Path

import torch

from vggrpo.geomodel import GeometryModel, evaluate_geomodel

out = Path(sys.argv[1])
num_clips = int(sys.argv[2]) if len(sys.argv) > 2 else 256
variants = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"refined": {}}
split = sys.argv[4] if len(sys.argv) > 4 else "test"
batch_size = int(os.environ.get("BATCH_SIZE", 16))  # clips per forward pass and per refinement
if not isinstance(variants, dict) or "feed_forward" in variants or not all(isinstance(v, dict) for v in variants.values()):
    sys.exit(f"VARIANTS_JSON must be a dict {{name: options dict}} without the name 'feed_forward', got {sys.argv[3]!r}")
dev = "cuda" if torch.cuda.is_available() else "cpu"
weights = os.environ.get("GEOMODEL")  # a folder of saved Φ weights; unset: the shipped ones
phi = GeometryModel.from_pretrained(weights).to(dev).eval()
result = dict(device=torch.cuda.get_device_name(0) if dev == "cuda" else "cpu", num_clips=num_clips, split=split, batch_size=batch_size,
              weights=weights or "shipped")
for name, refine in (("feed_forward", None), *variants.items()):
    if dev == "cuda": torch.cuda.synchronize()
    t = time.perf_counter()
    options = dict(refine or {}); oracle = tuple(options.pop("oracle", ()))
    run = evaluate_geomodel(phi, split, num_clips, batch_size=batch_size, device=dev, refine=None if refine is None else options, oracle=oracle)
    if dev == "cuda": torch.cuda.synchronize()
    result[name] = dict(seconds=round(time.perf_counter() - t, 1), options=refine, **run)
    m = lambda key: " / ".join(f"{run['summary'][part].get(key, float('nan')):.3g}" for part in ("static", "dynamic"))
    print(f"{name:13s} {result[name]['seconds']:6.1f} s  rotation {m('rotation_error_deg')}°  translation direction "
          f"{m('translation_direction_error_deg')}°  ATE {m('ate_relative')}  FoV {m('fov_error_deg')}°  (static / dynamic)",
          flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result))  # after every run: a call cut short keeps what it finished
