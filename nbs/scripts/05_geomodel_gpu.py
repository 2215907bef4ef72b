"GPU training run of Φ (vggrpo.geomodel): train on freshly rendered worlds, evaluate on the test split, save weights, log, metrics, loss curve."
import json, os, time

import torch

from vggrpo.geomodel import (CAMERA_LOSS, LOSS_WEIGHTS, evaluate_geomodel, geomodel_argument_parser, save_geomodel, train_geomodel,
                             train_geomodel_options)

# the flags of `vggrpo train-geomodel` with this script's defaults; everything goes to $OUT (the weights to $OUT/geomodel)
p = geomodel_argument_parser(time_budget=360, pool_size=4096, pool_time=90, refresh=1, output_dir=os.environ.get("OUT", "out"))
p.prog = "05_geomodel_gpu.py"
a = p.parse_args()
options = train_geomodel_options(a)
out = a.output_dir
os.makedirs(out, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
t0 = time.perf_counter()
model, log = train_geomodel(**options)
train_s = time.perf_counter() - t0
save_geomodel(model, f"{out}/geomodel")
with open(f"{out}/train_log.json", "w") as f: json.dump(log, f)
t1 = time.perf_counter()
ev = evaluate_geomodel(model, num_clips=a.eval_clips, batch_size=32)
device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
metrics = dict(summary=ev["summary"], clips=ev["clips"], steps=log[-1]["step"] if log else 0, parameters=sum(q.numel() for q in model.parameters()),
               device=device, train_seconds=round(train_s, 1), eval_seconds=round(time.perf_counter() - t1, 1), args=vars(a), config=dict(model.config),
               loss_weights={**LOSS_WEIGHTS, **(options["loss_weights"] or {})}, camera_loss={**CAMERA_LOSS, **(options["camera_loss_options"] or {})})
with open(f"{out}/metrics.json", "w") as f: json.dump(metrics, f, indent=1)
try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    plt = None
keys = ["loss", "camera", "depth", "points", "flow"]
if plt is not None and log:
  fig, axs = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 2.8))
  for ax, k in zip(axs, keys):
    ax.plot([r["step"] for r in log], [r[k] for r in log]); ax.set_title(k); ax.set_xlabel("step")
    if k in ("flow", "camera"): ax.set_yscale("log")
  fig.tight_layout(); fig.savefig(f"{out}/loss.png", dpi=80)
print(json.dumps(ev["summary"], indent=1))
