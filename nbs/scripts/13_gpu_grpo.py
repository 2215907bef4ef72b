"""The full GPU run of notebook 13: latent-reward GRPO on the shipped tiny Wan, evaluated before/after.

python nbs/scripts/13_gpu_grpo.py --out OUT [--steps 60] [--device cuda]
Writes OUT/gpu_grpo.json (config, history, before/after rewards and independent metrics, timings),
OUT/gpu_grpo_curves.png, OUT/gpu_grpo_frames.png, OUT/gpu_grpo_lora.safetensors.
"""
import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import save_file

from vggrpo.evaluate import evaluate_policy, held_out_prompts
from vggrpo.grpo import GRPOConfig, GRPOTrainer, build_reward, lora_state_dict, plot_history, training_prompts
from vggrpo.video import load_pipeline
from vggrpo.viz import compare_clips

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--device", default="cuda")
parser.add_argument("--train-prompts", type=int, default=64)
parser.add_argument("--eval-prompts", type=int, default=8)
parser.add_argument("--group-size", type=int, default=8)
parser.add_argument("--prompts-per-step", type=int, default=8)
parser.add_argument("--time-budget", type=float, default=300.0, help="seconds of GRPO training at most")
args = parser.parse_args()
out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
device, started = torch.device(args.device), time.perf_counter()

pipe = load_pipeline("tiny", device=device)
reward = build_reward("latent", pipe, device=device)
train_prompts = training_prompts(args.train_prompts)
eval_prompts = held_out_prompts(args.eval_prompts)
G, max_len = args.group_size, 128

def evaluate(tag):
    return evaluate_policy(pipe, reward, eval_prompts, G, 20, seed=1234, max_sequence_length=max_len)

before, videos_before = evaluate("before")
print("before", json.dumps(before))
config = GRPOConfig(group_size=G, prompts_per_step=args.prompts_per_step, num_inference_steps=10, learning_rate=1e-4,
                    lora_rank=32, lora_alpha=64, num_steps=args.steps, checkpoint_every=10, max_sequence_length=max_len,
                    micro_batch_size=32)
trainer = GRPOTrainer(pipe, reward, train_prompts, config, out / "run")
train_start = time.perf_counter()
while trainer.step < args.steps and time.perf_counter() - train_start < args.time_budget:
    record = trainer.train_step()
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}), flush=True)
trainer.save()
train_seconds = time.perf_counter() - train_start
pipe.transformer = trainer.model
after, videos_after = evaluate("after")
print("after", json.dumps(after))

fig = plot_history(trainer.history, ("reward_mean", "camera_smoothness_mean", "reprojection_consistency_mean", "kl"))
fig.savefig(out / "gpu_grpo_curves.png", dpi=90, bbox_inches="tight")
clips = {}
for i in range(min(3, len(eval_prompts))):
    clips[f"before {i}"] = videos_before[i]; clips[f"after {i}"] = videos_after[i]
compare_clips(clips, every=4, max_frames=9).savefig(out / "gpu_grpo_frames.png", dpi=80, bbox_inches="tight")
save_file(lora_state_dict(trainer.model), out / "gpu_grpo_lora.safetensors")
report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
          "config": config.fingerprint_fields(), "steps": trainer.step, "train_seconds": train_seconds,
          "total_seconds": time.perf_counter() - started, "eval_prompts": eval_prompts, "before": before, "after": after,
          "history": trainer.history}
(out / "gpu_grpo.json").write_text(json.dumps(report, indent=1))
print("done", trainer.step, "steps in", round(train_seconds, 1), "s")
