"GPU training run of Φ (vggrpo.geomodel): train on freshly rendered worlds, evaluate on the test split, save weights, log, metrics, loss curve."
import argparse, json, os, time

import torch

from vggrpo.geomodel import CAMERA_LOSS, LOSS_WEIGHTS, evaluate_geomodel, save_geomodel, train_geomodel

p = argparse.ArgumentParser()
p.add_argument("--time-budget", type=float, default=360)
p.add_argument("--pool-size", type=int, default=4096)
p.add_argument("--pool-time", type=float, default=90)
p.add_argument("--refresh", type=int, default=1)
p.add_argument("--workers", type=int, default=0)
p.add_argument("--batch-size", type=int, default=32)
p.add_argument("--lr", type=float, default=5e-4)
p.add_argument("--eval-clips", type=int, default=256)
p.add_argument("--config", default=None)
p.add_argument("--device", default=None)
p.add_argument("--init-from", default=None)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--loss-weights", default=None, help='JSON overrides of LOSS_WEIGHTS, e.g. \'{"camera": 10}\'')
p.add_argument("--camera-loss", default=None, help='JSON overrides of CAMERA_LOSS (default: smooth + relative + direction loss; \'{"legacy": true}\' = old L1)')
a = p.parse_args()
loss_weights = json.loads(a.loss_weights) if a.loss_weights else None
camera_loss_options = json.loads(a.camera_loss) if a.camera_loss else None
out = os.environ.get("OUT", "out")
os.makedirs(out, exist_ok=True)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
t0 = time.perf_counter()
model, log = train_geomodel(time_budget=a.time_budget, batch_size=a.batch_size, lr=a.lr, pool_size=a.pool_size, pool_time=a.pool_time,
                            refresh=a.refresh, workers=a.workers, device=a.device, config=json.loads(a.config) if a.config else None,
                            init_from=a.init_from, seed=a.seed, loss_weights=loss_weights, camera_loss_options=camera_loss_options)
train_s = time.perf_counter() - t0
save_geomodel(model, f"{out}/geomodel")
with open(f"{out}/train_log.json", "w") as f: json.dump(log, f)
t1 = time.perf_counter()
ev = evaluate_geomodel(model, num_clips=a.eval_clips, batch_size=32)
device = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
metrics = dict(summary=ev["summary"], clips=ev["clips"], steps=log[-1]["step"] if log else 0, parameters=sum(q.numel() for q in model.parameters()),
               device=device, train_seconds=round(train_s, 1), eval_seconds=round(time.perf_counter() - t1, 1), args=vars(a), config=dict(model.config),
               loss_weights={**LOSS_WEIGHTS, **(loss_weights or {})}, camera_loss={**CAMERA_LOSS, **(camera_loss_options or {})})
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
