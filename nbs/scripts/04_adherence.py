"""Colour adherence of one or more tiny-Wan pipelines on held-out prompts (test split), at several guidance scales.

python nbs/scripts/04_adherence.py OUT.json NAME=PIPELINE_DIR [NAME=PIPELINE_DIR ...]   (PIPELINE_DIR "tiny": the shipped one)
Env: GUIDANCE (default "4,8"), DECODERS (NAME=PIPELINE_DIR,...: each of those pipelines' VAE also decodes every model's sampled
latents, scored as "MODEL+NAME": the same DiT samples through another decoder, paired with the model's own), PROMPTS (default 64; the test seeds 1,010,000 on), VAE_ROW=1 or a pipeline folder (also score the real clips
encoded and decoded by the shipped VAE, or that pipeline's: the most a DiT can reach through that VAE, "real through VAE"; and
"palette area", each palette colour's share of the frame, summed over the clips, before and after the VAE). With two or more pipelines, "paired" holds
each one's gain minus the first one's, clip by clip on the same prompts and noise, with a bootstrap interval of the mean
difference: a sharper comparison than two separate intervals.
`vggrpo.video.adherence_vs_chance`: each video's colour adherence to its own prompt vs its mean adherence to all the other
prompts (chance), with a bootstrap interval of the gain; "shuffled" scores the same videos against the next clip's prompt
alone (the older, noisier chance level), "real" the rendered worlds themselves.
"""
import json, os, sys, time
import numpy as np
import torch
from vggrpo.video import adherence_vs_chance, bootstrap_mean_ci, colour_adherence, colour_areas, decode_latents, encode_video, load_pipeline, sample_videos
from vggrpo.worlds import render_clip

device = "cuda" if torch.cuda.is_available() else "cpu"
test = [render_clip(1_010_000 + i) for i in range(int(os.environ.get("PROMPTS", 64)))]
prompts = [c.prompt for c in test]
res = {"prompts": len(prompts), "device": device, "real": adherence_vs_chance(torch.stack([c.rgb for c in test]), prompts)}
gains = {}  # per-clip gains, for the paired comparison
if os.environ.get("VAE_ROW"):
    vae_pipe = load_pipeline("tiny" if os.environ["VAE_ROW"] == "1" else os.environ["VAE_ROW"], device=device)
    with torch.no_grad():
        recon = torch.cat([decode_latents(vae_pipe, encode_video(vae_pipe, torch.stack([c.rgb for c in test[i:i + 16]]).to(device))).float().cpu()
                           for i in range(0, len(test), 16)])
    res["real through VAE"] = adherence_vs_chance(recon, prompts)
    print("real through VAE", res["real through VAE"], flush=True)
    def area(videos):  # each palette colour's share of the frame, summed over the clips
        areas = [colour_areas(v) for v in videos]
        return {k: round(sum(a[k] for a in areas), 4) for k in areas[0]}
    res["palette area"] = {"real": area([c.rgb for c in test]), "through VAE": area(recon)}
    print("palette area", res["palette area"], flush=True)
decoders = {d.split("=", 1)[0]: load_pipeline(d.split("=", 1)[1], device=device)  # other VAEs that decode the same sampled latents
            for d in os.environ.get("DECODERS", "").split(",") if d}
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    pipe = load_pipeline(path, device=device)
    for g in [float(x) for x in os.environ.get("GUIDANCE", "4,8").split(",")]:
        t = time.time()
        lats = torch.cat([sample_videos(pipe, prompts[i:i + 32], num_inference_steps=20, guidance_scale=g, seed=1, decode=False)[0]
                          for i in range(0, len(prompts), 32)])
        for dname, dpipe in [(name, pipe)] + [(f"{name}+{d}", p) for d, p in decoders.items()]:
            with torch.no_grad():
                gens = torch.cat([decode_latents(dpipe, lats[i:i + 16]).float().cpu() for i in range(0, len(lats), 16)])
            r = adherence_vs_chance(gens, prompts, per_clip=True); gains[dname, g] = np.array(r.pop("gains"))
            res[f"{dname} cfg{g:g}"] = dict(r, shuffled=colour_adherence(gens, prompts[1:] + prompts[:1]),
                                            seconds=round(time.time() - t, 1))
            print(dname, g, res[f"{dname} cfg{g:g}"], flush=True)
    json.dump(res, open(sys.argv[1], "w"), indent=1)  # after every model, so that an interrupted run keeps what it measured
first = next(iter(gains))[0] if gains else None
for (name, g), gain in gains.items():
    if name == first or (first, g) not in gains: continue
    diff = gain - gains[first, g]
    res.setdefault("paired", {})[f"{name} - {first} cfg{g:g}"] = dict(mean=float(diff.mean()), ci=bootstrap_mean_ci(diff), clips=len(diff))
print(res.get("paired", {}), flush=True)
json.dump(res, open(sys.argv[1], "w"), indent=1)
