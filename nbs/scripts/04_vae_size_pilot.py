"""Can Wan's VAE reach 30 dB on larger, smoother worlds? A pilot on the GPU (see nbs/04_video.ipynb, "A VAE trained on
larger, smoother frames").

python nbs/scripts/04_vae_size_pilot.py OUT_DIR CONDITIONS
CONDITIONS: comma-separated SIZE:SUPERSAMPLING:TEXTURE_SCALE:BATCH, e.g. "64:1:1.0:16,128:2:0.25:4" (the shipped rendering
at 64 x 64, batch 16; then 128 x 128 rendered at 256 and pooled, every material's pattern frequency and noise detail
scaled by 0.25, batch 4: the same pixels per step). For each condition, one after the other: render training worlds
(RENDER_S seconds) and NUM_VAL validation worlds (33 frames), score the bicubic down/up baselines on the validation
clips, then train a fresh VAE of the shipped config (TINY_CONFIG["vae"]) for TRAIN_S seconds on FRAMES-frame crops
(bf16 autocast, AdamW, warm-up and cosine decay, the loss of train_base) and measure held-out PSNR/SSIM every EVAL_S
seconds. Writes OUT_DIR/vae_size_pilot.json. MICRO=1: a CPU smoke test (tiny VAE, seconds).
"""
import dataclasses, json, math, os, sys, time
from pathlib import Path

import torch
import torch.nn.functional as F

from vggrpo.video import TINY_CONFIG, load_pipeline, psnr, reconstruction_metrics, to_pixels, vae_loss
from vggrpo.worlds import render_clip, sample_scene, split_seeds
from diffusers import AutoencoderKLWan

out, spec = Path(sys.argv[1]), sys.argv[2]
out.mkdir(parents=True, exist_ok=True)
micro = bool(os.environ.get("MICRO"))
dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
env = lambda k, d: float(os.environ.get(k, d))
RENDER_S, TRAIN_S, EVAL_S = env("RENDER_S", 40), env("TRAIN_S", 180), env("EVAL_S", 45)
NUM_VAL, FRAMES = int(env("NUM_VAL", 16)), int(env("FRAMES", 17))
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
print(torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", torch.__version__, flush=True)

def softer(scene, scale):
    "The world with every material's pattern frequency and noise detail scaled by `scale`."
    soft = lambda m: dataclasses.replace(m, frequency=m.frequency * scale, detail=m.detail * scale)
    return dataclasses.replace(scene, floor=soft(scene.floor), wall=soft(scene.wall),
                               objects=[dataclasses.replace(o, material=soft(o.material)) for o in scene.objects])

def render(seeds, frames, size, ss, scale, budget_s=0.0):
    "uint8 clips [N, 3, T, size, size]: rendered at size*ss, average-pooled by ss, quantised like the training data."
    clips, t0 = [], time.perf_counter()
    for s in seeds:
        if budget_s and time.perf_counter() - t0 > budget_s: break
        rgb = render_clip(s, frames, size * ss, size * ss, device=dev, scene=softer(sample_scene(s), scale)).rgb
        rgb = F.avg_pool2d(rgb, ss) if ss > 1 else rgb  # [3, T, H, W]: the frames are the batch of the pooling
        clips.append(((rgb + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.stack(clips)

def down_up(video, factor):
    "Average-pool every frame by `factor` and upsample back with bicubic (as 04_video's ceiling)."
    B, C, T, H, W = video.shape
    frames = video.transpose(1, 2).reshape(B * T, C, H, W)
    up = F.interpolate(F.avg_pool2d(frames, factor), scale_factor=factor, mode="bicubic").clamp(-1, 1)
    return up.reshape(B, T, C, H, W).transpose(1, 2)

result = dict(device=torch.cuda.get_device_name(0) if dev.type == "cuda" else "cpu", train_s=TRAIN_S, render_s=RENDER_S,
              frames=FRAMES, num_val=NUM_VAL, conditions={})
for cond in spec.split(","):
    size, ss, scale, batch = (f(x) for f, x in zip((int, int, float, int), cond.split(":")))
    name, t_cond = f"{size}px, supersampling {ss}, textures x{scale:g}, batch {batch}", time.perf_counter()
    t = time.perf_counter()
    train = render(split_seeds("train"), FRAMES if not micro else 5, size, ss, scale, RENDER_S if not micro else 0.01)
    render_train_s = time.perf_counter() - t
    val = render(split_seeds("validation", NUM_VAL if not micro else 2), 33 if not micro else 5, size, ss, scale)
    v = to_pixels(val)
    row = dict(size=size, supersampling=ss, texture_scale=scale, batch=batch, train_clips=len(train),
               render_train_s=round(render_train_s, 1),
               bicubic={f"{f}x": float(psnr(down_up(v, f), v).mean()) for f in (2, 4, 8)})
    if size == 64 and not micro:  # the shipped VAE (trained at 64 x 64 on shipped textures) on the same clips
        row["shipped_vae"] = {k: reconstruction_metrics(load_pipeline("tiny").to(dev), val)[k] for k in ("psnr", "ssim")}
    print(name, f"{len(train)} training clips in {render_train_s:.0f} s;", "bicubic", row["bicubic"], flush=True)
    torch.manual_seed(0)
    vae = AutoencoderKLWan(**({**TINY_CONFIG["vae"], "base_dim": 8} if micro else TINY_CONFIG["vae"])).to(dev).train()
    opt = torch.optim.AdamW(vae.parameters(), lr=4e-4, weight_decay=0.01, betas=(0.9, 0.99))
    history, evals, step, t0, next_eval = [], [], 0, time.perf_counter(), EVAL_S
    budget = TRAIN_S if not micro else 3.0
    g = torch.Generator(dev).manual_seed(0)
    def evaluate():  # its own time is not training time: the clock t0 moves on by it
        t_eval = time.perf_counter()
        vae.eval()
        m = reconstruction_metrics(vae, val, batch_size=4)
        vae.train()
        evals.append(dict(step=step, time=round(t_eval - t0, 1), psnr=m["psnr"], ssim=m["ssim"]))
        print(f"  step {step:5d}  {evals[-1]['time']:6.1f} s  held-out {m['psnr']:.2f} dB  SSIM {m['ssim']:.3f}", flush=True)
        return time.perf_counter() - t_eval
    while (elapsed := time.perf_counter() - t0) < budget:
        for grp in opt.param_groups: grp["lr"] = 4e-4 * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
        idx = torch.randint(len(train), (batch,), generator=g, device=dev)
        start = int(torch.randint(0, train.shape[2] - min(FRAMES, train.shape[2]) + 1, (1,), generator=g, device=dev))
        x = to_pixels(train[idx][:, :, start:start + FRAMES])
        x = torch.where(torch.rand(batch, 1, 1, 1, 1, generator=g, device=dev) < 0.5, x, x.flip(-1))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
            logs = vae_loss(vae, x)
        logs["loss"].backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step(); opt.zero_grad(set_to_none=True); step += 1
        if step % 25 == 0: history.append(dict(step=step, time=round(elapsed, 1), loss=float(logs["loss"].detach()), psnr=float(logs["psnr"])))
        if elapsed >= next_eval: t0 += evaluate(); next_eval += EVAL_S
    evaluate()
    row.update(steps=step, steps_per_s=round(step / (time.perf_counter() - t0), 2), history=history, evals=evals,
               condition_s=round(time.perf_counter() - t_cond, 1))
    result["conditions"][name] = row
    (out / "vae_size_pilot.json").write_text(json.dumps(result, indent=1))
    del vae, opt, train
    if dev.type == "cuda": torch.cuda.empty_cache()
print("wrote", out / "vae_size_pilot.json", flush=True)
