"""Does the LGM overfit its training worlds? The same evaluation on training worlds it was stitched on and on validation worlds, on CPU.

python nbs/scripts/06_train_gap.py [NAME=LGM_FOLDER ...]   (from the repo root; about 5 minutes on 2 cores for three LGMs;
writes nbs/results/06_lgm_train_gap.json)
`evaluate_lgm` on the first 128 worlds of the training split (`train_lgm` renders its real training clips from the start of
that split, so the shipped LGM saw all of them, about 75 times each over its two runs) and on `train_lgm`'s 128 validation worlds. The shipped
LGM always; NAME=FOLDER adds other saved LGMs (e.g. a continued run's lgm/). A gap between the two columns is memorisation,
which more training worlds would close; no gap means the error is what the model can read, whatever the data.
"""
import json, sys, time
from pathlib import Path
import torch
from vggrpo.geomodel import GeometryModel
from vggrpo.lgm import LatentGeometryModel, encoded_clip_data, evaluate_lgm
from vggrpo.video import encode_video, load_pipeline
from vggrpo.worlds import split_seeds

torch.set_num_threads(2)
extra = dict(a.split("=", 1) for a in sys.argv[1:])
t0 = time.perf_counter()
phi, pipe = GeometryModel.from_pretrained(), load_pipeline("tiny")
encode = lambda v: encode_video(pipe, v)
data = {"train": encoded_clip_data(split_seeds("train", 3072)[:128], encode, batch_size=16),
        "validation": encoded_clip_data(split_seeds("validation", 128), encode, batch_size=16)}
res = {"about": __doc__.split("\n")[0], "clips": {k: len(v["latents"]) for k, v in data.items()}, "data_seconds": time.perf_counter() - t0, "lgms": {}}
for name, folder in {"shipped": None, **extra}.items():
    lgm = LatentGeometryModel.from_pretrained(folder).float()  # None: the shipped LGM
    res["lgms"][name] = {}
    for split, d in data.items():
        r = evaluate_lgm(lgm, phi, d, 32, phi_vs_gt=name == "shipped")
        if name == "shipped": res.setdefault("phi_vs_gt", {})[split] = r.pop("phi_vs_gt")
        res["lgms"][name][split] = r
        print(f"{name:>28} {split:>10}: teacher {r['teacher_total']:.4f}, " + ", ".join(f"{k} {r['lgm_vs_gt'][k]:.4f}" for k in
              ("depth_absrel", "rotation_error_deg", "translation_direction_error_deg", "fov_error_deg")), flush=True)
res["seconds"] = time.perf_counter() - t0
Path("nbs/results/06_lgm_train_gap.json").write_text(json.dumps(res, indent=1, default=float))
print(f"{res['seconds']:.0f}s")
