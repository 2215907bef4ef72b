"The real LGM run (one GPU call): data, least-squares sweep over k, short training per k, frozen vs LoRA, test tables, figures."
import os, sys, time
import torch

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
from vggrpo.lgm import train_lgm_cli

out = sys.argv[1] if len(sys.argv) > 1 else "runs/lgm"
quick = os.environ.get("LGM_QUICK") == "1"  # CPU smoke test of this exact script
# LGM_STITCH_LAYERS / LGM_TUNE / LGM_FINAL_STEPS narrow the run (e.g. one k, one tuning mode, a longer final run);
# LGM_INIT=folder continues a saved LGM (no fit, no sweep), LGM_LR sets the peak learning rate;
# LGM_NUM_TRAIN / LGM_DATA_BUDGET / LGM_TRAIN_OFFSET set how many training worlds, the seconds to render them, and the first seed;
# LGM_LOSS_WEIGHTS the final runs' loss multipliers (e.g. gt=1.5)
args = ["--output-dir", out, "--stitch-layers", os.environ.get("LGM_STITCH_LAYERS", "0,2,4,6,8,10,12"), "--tune", os.environ.get("LGM_TUNE", "frozen,lora"),
        "--lr", os.environ.get("LGM_LR", "2e-4"), "--train-seed-offset", os.environ.get("LGM_TRAIN_OFFSET", "0")] + \
       (["--loss-weights", os.environ["LGM_LOSS_WEIGHTS"]] if os.environ.get("LGM_LOSS_WEIGHTS") else []) + (["--init-lgm", os.environ["LGM_INIT"]] if os.environ.get("LGM_INIT") else [])
if quick:
    args += ["--device", "cpu", "--stitch-layers", "0,12", "--num-train", "4", "--num-val", "2", "--num-test", "2", "--num-generated-train", "2",
             "--num-generated-test", "2", "--ls-clips", "4", "--sweep-steps", "2", "--final-steps", "2", "--batch-size", "2"]
else:
    args += ["--device", "cuda", "--num-train", os.environ.get("LGM_NUM_TRAIN", "3072"), "--num-val", "128", "--num-test", "128", "--num-generated-train", "384",
             "--num-generated-test", "64", "--ls-clips", "768", "--sweep-steps", "400", "--sweep-time-budget", "14",
             "--final-steps", os.environ.get("LGM_FINAL_STEPS", "3000"), "--final-time-budget", os.environ.get("LGM_FINAL_BUDGET", "75"), "--batch-size", "32", "--data-time-budget", os.environ.get("LGM_DATA_BUDGET", "100")]
t0 = time.time()
results = train_lgm_cli(args)
print(f"total {time.time() - t0:.0f}s; best k={results['best_k']}, shipped {results['shipped_tune']}", flush=True)
if torch.cuda.is_available(): print(f"peak GPU memory {torch.cuda.max_memory_allocated() / 1e9:.1f} GB", flush=True)
