"""Data-parallel GRPO under `accelerate launch`: throughput and reward curves, 1 process vs N.

    accelerate launch --num_processes 1 nbs/scripts/14_multi_gpu.py --out OUT/single.json
    accelerate launch --multi_gpu --num_processes 2 nbs/scripts/14_multi_gpu.py --out OUT/x2.json --prompts-per-step 4

Every process samples `--prompts-per-step` prompt groups of `--group-size` videos per step, scores them with
the latent reward on its own GPU and normalises advantages within each group (a group never spans processes);
DDP averages the LoRA gradients once per optimizer step. The script times each step after a barrier,
checks after training that every rank holds the same LoRA weights, and the main process writes one JSON:
config, per-step history (rewards gathered over all ranks), step times, videos/s and steps/s.
"""
import argparse
import json
import time
from pathlib import Path

import torch
from accelerate import Accelerator

from vggrpo.grpo import GRPOConfig, GRPOTrainer, build_reward, lora_state_dict, training_prompts
from vggrpo.video import load_pipeline

parser = argparse.ArgumentParser()
parser.add_argument("--out", required=True, help="JSON written by the main process")
parser.add_argument("--steps", type=int, default=30)
parser.add_argument("--warmup-steps", type=int, default=2, help="first steps left out of the throughput")
parser.add_argument("--group-size", type=int, default=8)
parser.add_argument("--prompts-per-step", type=int, default=8, help="per process")
parser.add_argument("--train-prompts", type=int, default=64)
parser.add_argument("--seed", type=int, default=0)
args = parser.parse_args()

accelerator = Accelerator(cpu=not torch.cuda.is_available())  # on CPU: gloo under torchrun
device = accelerator.device
pipe = load_pipeline("tiny", device=device)
reward = build_reward("latent", pipe, device=device)
config = GRPOConfig(group_size=args.group_size, prompts_per_step=args.prompts_per_step, num_inference_steps=10,
                    learning_rate=1e-4, lora_rank=32, lora_alpha=64, num_steps=args.steps, max_sequence_length=128,
                    micro_batch_size=32, seed=args.seed)
trainer = GRPOTrainer(pipe, reward, training_prompts(args.train_prompts), config, None, accelerator)

def barrier():
    "All ranks here and all their GPU work finished: the step times measure whole steps."
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    accelerator.wait_for_everyone()

step_seconds = []
for _ in range(args.steps):
    barrier()
    started = time.perf_counter()
    record = trainer.train_step()
    barrier()
    step_seconds.append(time.perf_counter() - started)
    if accelerator.is_main_process:
        print(json.dumps({"step": record["step"], "reward_mean": round(record["reward_mean"], 5),
                          "kl": record["kl"], "seconds": round(step_seconds[-1], 3)}), flush=True)

# every rank must end with the same adapter: compare each rank's flattened LoRA weights with rank 0's
flat = torch.cat([v.float().flatten() for _, v in sorted(lora_state_dict(trainer.model).items())]).to(device)
gathered = accelerator.gather(flat.unsqueeze(0))
max_rank_difference = (gathered - gathered[0]).abs().max().item()

if accelerator.is_main_process:
    timed = step_seconds[args.warmup_steps:]
    mean_step = sum(timed) / len(timed)
    videos_per_step = accelerator.num_processes * args.prompts_per_step * args.group_size
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "num_processes": accelerator.num_processes, "distributed_type": str(accelerator.distributed_type),
              "videos_per_step": videos_per_step, "config": config.fingerprint_fields(), "steps": args.steps,
              "warmup_steps": args.warmup_steps, "step_seconds": step_seconds, "mean_step_seconds": mean_step,
              "steps_per_second": 1 / mean_step, "videos_per_second": videos_per_step / mean_step,
              "lora_max_rank_difference": max_rank_difference, "history": trainer.history}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1))
    print(f"{accelerator.num_processes} process(es): {mean_step:.3f} s/step, {videos_per_step / mean_step:.1f} videos/s, "
          f"LoRA max rank difference {max_rank_difference:.2e}", flush=True)
accelerator.wait_for_everyone()  # rank 0 may still be writing the report: tear the process group down together
accelerator.end_training()  # destroy the process group before exit (gloo's threads can abort a rank otherwise)
