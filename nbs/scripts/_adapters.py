"""What the 13_* CPU scripts share: the base model or a LoRA adapter written by 13_gpu_grpo.py, sampled on held-out prompts."""
import copy, json, time

import torch
from safetensors.torch import load_file
from vggrpo.evaluate import held_out_prompts, score_policy
from vggrpo.grpo import add_lora, build_reward, load_lora_state_dict
from vggrpo.video import load_pipeline


def with_adapter(base_transformer, path):
    """`path`: '-' for the base model itself, a `gpu_grpo_lora.safetensors`, or PATH#stepN for the adapter after step N in
    a `gpu_grpo_lora_snapshots.safetensors`."""
    if path == "-":
        return base_transformer
    transformer = copy.deepcopy(base_transformer)  # a fresh adapter on the base weights for each run
    add_lora(transformer, rank=32, alpha=64.0)
    file, _, step = path.partition("#")
    weights = load_file(file)
    if step:  # one adapter of a snapshots file
        weights = {k.split("/", 1)[1]: v for k, v in weights.items() if k.split("/", 1)[0] == step}
        if not weights:
            raise ValueError(f"{file} has no adapter {step!r}")
    load_lora_state_dict(transformer, weights)
    return transformer


def score_models(argv, rows_of):
    """argv: OUT.json NAME=PATH ... [N]. Each model samples the first N held-out handheld prompts (default 64), one video
    each from fixed noise, the same for every model (deterministic sampler, 20 steps, guidance 5, seed 1234 + the offset
    of its batch of 16), scored with the shipped latent reward; `rows_of(pipe, scores)` turns a batch into one dict per
    video. Writes OUT.json after each model."""
    torch.set_num_threads(2)
    out, specs = argv[0], [a for a in argv[1:] if "=" in a]
    count = int(next((a for a in argv[1:] if "=" not in a), 64))
    prompts = held_out_prompts(count)
    pipe = load_pipeline("tiny")
    reward = build_reward("latent", pipe)
    base_transformer = pipe.transformer
    results = {"prompts": prompts, "sampling": dict(steps=20, guidance_scale=5.0, seed=1234, videos_per_prompt=1), "models": {}}
    for spec in specs:
        name, path = spec.split("=", 1)
        t0 = time.perf_counter()
        pipe.transformer = with_adapter(base_transformer, path)
        rows = []
        for i in range(0, count, 16):
            rows += rows_of(pipe, score_policy(pipe, reward, prompts[i:i + 16], 1, 20, seed=1234 + i, max_sequence_length=128))
        results["models"][name] = {"path": path, "rows": rows, "seconds": time.perf_counter() - t0}
        print(name, f"{time.perf_counter() - t0:.0f} s", {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in rows[0]}, flush=True)
        json.dump(results, open(out, "w"), indent=1)
