"""The CPU GRPO run of 09_grpo with other settings, for comparison (no denoising guard, so a little faster).

python nbs/scripts/09_cpu_configs.py PROMPTS_PER_STEP LR STEPS EVAL_EVERY > LOG

It prints the fixed-noise latent reward (4 training prompts x 4 videos, seed 1234, deterministic sampling) every
EVAL_EVERY steps, then the start value and the training-batch rewards. The logs of the runs quoted in 09_grpo are in
nbs/results/09_cpu_configs/ (named groupsP_lrLR_STEPSsteps.log).
"""
import sys
import time

from vggrpo.evaluate import score_policy
from vggrpo.grpo import GRPOConfig, GRPOTrainer, build_reward, training_prompts
from vggrpo.video import load_pipeline

if len(sys.argv) != 5: sys.exit(__doc__)
prompts_per_step, lr, steps, every = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
t0 = time.time()
pipe = load_pipeline("tiny")
latent_reward = build_reward("latent", pipe)
prompts = training_prompts(4)
config = GRPOConfig(group_size=4, prompts_per_step=prompts_per_step, num_inference_steps=10, sde_window=3, guidance_scale=1.0,
                    learning_rate=lr, kl_beta=0.04, max_sequence_length=128)  # 09_grpo's settings but these three, and no guard


def fixed_noise_score():
    scores = score_policy(pipe, latent_reward, prompts, 4, 10, seed=1234, max_sequence_length=128, guidance_scale=1.0)
    return {"reward": scores["reward"].mean().item(), **{k: v.mean().item() for k, v in scores["terms"].items()}}


trainer = GRPOTrainer(pipe, latent_reward, prompts, config)
evaluations = {0: fixed_noise_score()}
for end in range(every, steps + 1, every):
    trainer.train(end, progress=False)
    evaluations[end] = fixed_noise_score()
    print(end, {k: round(v, 4) for k, v in evaluations[end].items()}, flush=True)
print("start", {k: round(v, 4) for k, v in evaluations[0].items()})
print("train reward", [round(r["reward_mean"], 3) for r in trainer.history])
print("seconds", time.time() - t0)
