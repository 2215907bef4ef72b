"""13's independent check with more videos, on CPU: the base model and the LoRA of each GPU run, on N held-out prompts.

python nbs/scripts/13_more_videos.py OUT.json base=- seed0=PATH/gpu_grpo_lora.safetensors seed1=... [N]
(from the repo root; N held-out handheld prompts, default 64). Each prompt gets one video from fixed noise, the same for
every model (deterministic sampler, 20 steps, guidance 5, seed 1234 + the offset of its batch of 16), scored with the
shipped latent reward and decoded for the independent RGB metrics (epipolar error, inlier ratio, dynamic degree). The LoRA files are the `gpu_grpo_lora.safetensors` that 13_gpu_grpo.py writes, or PATH#stepN for the adapter after step N in its
`gpu_grpo_lora_snapshots.safetensors`.
"""
import copy, json, sys, time
import torch
from safetensors.torch import load_file
from vggrpo.evaluate import held_out_prompts, score_policy, video_metrics
from vggrpo.grpo import add_lora, build_reward, load_lora_state_dict
from vggrpo.video import decode_latents, load_pipeline

torch.set_num_threads(2)
out, specs = sys.argv[1], [a for a in sys.argv[2:] if "=" in a]
count = int(next((a for a in sys.argv[2:] if "=" not in a), 64))
prompts = held_out_prompts(count)
pipe = load_pipeline("tiny")
reward = build_reward("latent", pipe)
base_transformer = pipe.transformer
results = {"prompts": prompts, "sampling": dict(steps=20, guidance_scale=5.0, seed=1234, videos_per_prompt=1), "models": {}}
for spec in specs:
    name, path = spec.split("=", 1)
    t0 = time.perf_counter()
    if path != "-":
        pipe.transformer = copy.deepcopy(base_transformer)  # a fresh adapter on the base weights for each run
        add_lora(pipe.transformer, rank=32, alpha=64.0)
        file, _, step = path.partition("#")
        weights = load_file(file)
        if step:  # one adapter of a snapshots file
            weights = {k.split("/", 1)[1]: v for k, v in weights.items() if k.split("/", 1)[0] == step}
            if not weights: raise ValueError(f"{file} has no adapter {step!r}")
        load_lora_state_dict(pipe.transformer, weights)
    else:
        pipe.transformer = base_transformer
    rows = []
    for i in range(0, count, 16):
        chunk = prompts[i:i + 16]
        scores = score_policy(pipe, reward, chunk, 1, 20, seed=1234 + i, max_sequence_length=128)
        with torch.no_grad():
            videos = decode_latents(pipe, scores["latents"]).float().cpu()
        for j, video in enumerate(videos):
            rows.append({"reward": float(scores["reward"][j]), **{k: float(v[j]) for k, v in scores["terms"].items()}, **video_metrics(video)})
    results["models"][name] = {"path": path, "rows": rows, "seconds": time.perf_counter() - t0}
    print(name, f"{time.perf_counter() - t0:.0f} s", {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}, flush=True)
    json.dump(results, open(out, "w"), indent=1)
