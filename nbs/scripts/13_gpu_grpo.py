"""The full GPU run of notebook 13: latent-reward GRPO on the shipped tiny Wan, scored before/after.

python nbs/scripts/13_gpu_grpo.py --out OUT [--steps 60] [--time-budget 240] [--device cuda] [--seed 0]
Writes OUT/gpu_grpo.json (config, history, before/after latent rewards, timings), OUT/gpu_grpo_videos.npz
(decoded first sample of each held-out prompt, before and after, uint8 [P, T, H, W, 3]) and
OUT/gpu_grpo_lora.safetensors; with --lora-snapshots 80,140 also OUT/gpu_grpo_lora_snapshots.safetensors, the adapter
after those steps (keys "step80/<name>", ...; 13_more_videos.py reads one as PATH#step80). The independent RGB metrics and the figures are computed from these
files in notebook 13 (on any machine), so the GPU run needs neither OpenCV nor matplotlib.
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from vggrpo.evaluate import held_out_prompts, score_policy, score_summary
from vggrpo.grpo import GRPOConfig, GRPOTrainer, build_reward, lora_state_dict, training_prompts
from vggrpo.video import decode_latents, load_pipeline

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True)
parser.add_argument("--run-dir", default="/tmp/vggrpo_gpu_run", help="checkpoints (not returned)")
parser.add_argument("--steps", type=int, default=60)
parser.add_argument("--device", default="cuda")
parser.add_argument("--train-prompts", type=int, default=64)
parser.add_argument("--eval-prompts", type=int, default=8)
parser.add_argument("--group-size", type=int, default=8)
parser.add_argument("--prompts-per-step", type=int, default=8)
parser.add_argument("--time-budget", type=float, default=240.0, help="seconds of GRPO training at most")
parser.add_argument("--seed", type=int, default=0, help="training seed (prompt order, noise of the rollouts); the evaluation noise is fixed")
parser.add_argument("--lora-snapshots", default="", help="comma-separated steps after which the LoRA is kept (one file)")
args = parser.parse_args()
snapshot_steps, snapshots = {int(s) for s in args.lora_snapshots.split(",") if s}, {}
out = Path(args.out); out.mkdir(parents=True, exist_ok=True)
device, started = torch.device(args.device), time.perf_counter()

pipe = load_pipeline("tiny", device=device)
reward = build_reward("latent", pipe, device=device)
train_prompts = training_prompts(args.train_prompts)
eval_prompts = held_out_prompts(args.eval_prompts)
G, max_len = args.group_size, 128

def evaluate():
    scores = score_policy(pipe, reward, eval_prompts, G, 20, seed=1234, max_sequence_length=max_len)
    first = torch.arange(len(eval_prompts)) * G
    with torch.no_grad():
        videos = decode_latents(pipe, scores["latents"][first]).float().cpu()
    frames = ((videos.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 4, 1).numpy()
    summary = {**score_summary(scores), "per_prompt_reward": scores["reward"].view(len(eval_prompts), G).mean(1).tolist()}
    return summary, frames

before, frames_before = evaluate()
print("before", json.dumps(before), flush=True)
config = GRPOConfig(group_size=G, prompts_per_step=args.prompts_per_step, num_inference_steps=10, learning_rate=1e-4,
                    lora_rank=32, lora_alpha=64, num_steps=args.steps, checkpoint_every=10, max_sequence_length=max_len,
                    micro_batch_size=32, seed=args.seed)
trainer = GRPOTrainer(pipe, reward, train_prompts, config, args.run_dir)
train_start = time.perf_counter()
while trainer.step < args.steps and time.perf_counter() - train_start < args.time_budget:
    record = trainer.train_step()
    print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in record.items()}), flush=True)
    if trainer.step in snapshot_steps:
        snapshots.update({f"step{trainer.step}/{k}": v for k, v in lora_state_dict(trainer.model).items()})
train_seconds = time.perf_counter() - train_start
pipe.transformer = trainer.model
after, frames_after = evaluate()
print("after", json.dumps(after), flush=True)
np.savez_compressed(out / "gpu_grpo_videos.npz", before=frames_before, after=frames_after)
save_file(lora_state_dict(trainer.model), out / "gpu_grpo_lora.safetensors")
if snapshots: save_file(snapshots, out / "gpu_grpo_lora_snapshots.safetensors")
report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
          "config": config.fingerprint_fields(), "steps": trainer.step, "train_seconds": train_seconds,
          "total_seconds": time.perf_counter() - started, "eval_prompts": eval_prompts, "before": before, "after": after,
          "history": trainer.history}
(out / "gpu_grpo.json").write_text(json.dumps(report, indent=1))
print("done", trainer.step, "steps in", round(train_seconds, 1), "s", flush=True)
