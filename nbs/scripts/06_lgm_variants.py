"Which change to the stitching recipe narrows the LGM's depth gap? Equal-time runs at the shipped stitch point k=4, one GPU call."
import json, os, sys, time
import torch

torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
import vggrpo.lgm as L
from vggrpo.geomodel import GeometryModel
from vggrpo.video import load_pipeline, encode_video, decode_latents
from vggrpo.worlds import split_seeds

out = sys.argv[1] if len(sys.argv) > 1 else "runs/lgm_variants"
os.makedirs(out, exist_ok=True)
budget = float(os.environ.get("VARIANT_BUDGET", "95"))  # seconds of training per variant
k, batch = 4, 32
quick = os.environ.get("LGM_QUICK") == "1"  # CPU smoke test of this exact script
dev = "cpu" if quick else "cuda"
n_train, n_eval, n_gen, n_ls = (8, 4, 2, 8) if quick else (3072, 128, 384, 768)
# name → (connector kwargs, tune mode, teacher-weight overrides, loss-multiplier overrides)
VARIANTS = {
    "shipped recipe": ({}, "frozen", {}, {}),
    "connector 4 residual blocks": ({"num_residual_blocks": 4}, "frozen", {}, {}),
    "full tuning after k (lr/10)": ({}, "full", {}, {}),
    "teacher depth weight x3": ({}, "frozen", {"depth": 3.0}, {}),
}
t0 = time.perf_counter()
phi = GeometryModel.from_pretrained().to(dev).eval().requires_grad_(False)
pipe = load_pipeline("tiny", device=dev)
enc, dec = (lambda v: encode_video(pipe, v)), (lambda z: decode_latents(pipe, z))
train_seeds = split_seeds("train", n_train)
real = L.encoded_clip_data(train_seeds, enc, device=dev, batch_size=min(batch, n_eval), time_budget=100)
val = L.encoded_clip_data(split_seeds("validation", n_eval), enc, device=dev, batch_size=min(batch, n_eval))
test = L.encoded_test_clips(enc, n_eval, dev, min(batch, n_eval))
gen = L.generated_clip_data(pipe, L._prompts(train_seeds[:n_gen]), dec, batch, 0, num_inference_steps=10, guidance_scale=4.0)
train = L.concat(real, gen)
fit = L.least_squares_stitch(phi, L.subset(real, slice(0, n_ls)), [k], heldout=val, batch_size=min(batch, n_eval))
results = {"k": k, "budget_s": budget, "data_s": time.perf_counter() - t0, "train_real": len(real["latents"]), "variants": {}}
print(f"data {results['data_s']:.0f}s, {len(real['latents'])} real clips", flush=True)
base_teacher = dict(L.TEACHER_WEIGHTS)
for name, (ck, tune, tw, w) in VARIANTS.items():
    L.TEACHER_WEIGHTS.clear(); L.TEACHER_WEIGHTS.update({**base_teacher, **tw})
    lgm = L.least_squares_lgm(phi, fit[k], k, **ck)
    t1 = time.perf_counter()
    hist = L.train_stitching(lgm, phi, train, 3000, batch, 2e-4, tune, weights=w or None, seed=1, time_budget=budget, bf16=True)
    secs = time.perf_counter() - t1
    L.TEACHER_WEIGHTS.clear(); L.TEACHER_WEIGHTS.update(base_teacher)  # score every variant with the same teacher total
    row = {"steps": hist[-1]["step"], "train_seconds": secs, "last_loss": hist[-1],
           "val": L.evaluate_lgm(lgm, phi, val, batch, phi_vs_gt=False),
           "test": {s: L.evaluate_lgm(lgm, phi, d, batch, decode=dec) for s, d in test.items()}}
    results["variants"][name] = row
    r = {s: {m: row["test"][s]["lgm_vs_gt"][m] / row["test"][s]["phi_vs_gt"][m] for m in ("depth_absrel", "rotation_error_deg", "translation_direction_error_deg", "fov_error_deg", "ate_relative")} for s in test}
    row["ratio_vs_phi"] = r
    print(f"{name}: {row['steps']} steps, val teacher {row['val']['teacher_total']:.4f}, depth ratio static {r['static']['depth_absrel']:.3f} "
          f"dynamic {r['dynamic']['depth_absrel']:.3f}, transl static {r['static']['translation_direction_error_deg']:.3f}", flush=True)
    json.dump(results, open(os.path.join(out, "variants.json"), "w"), indent=1, default=float)
print(f"total {time.perf_counter() - t0:.0f}s")
