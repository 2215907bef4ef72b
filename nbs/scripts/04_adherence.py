"""Colour adherence of one or more tiny-Wan pipelines on 64 held-out prompts (test split), at several guidance scales.

python nbs/scripts/04_adherence.py OUT.json NAME=PIPELINE_DIR [NAME=PIPELINE_DIR ...]   (PIPELINE_DIR "tiny": the shipped one)
`vggrpo.video.adherence_vs_chance`: each video's colour adherence to its own prompt vs its mean adherence to the 63 other
prompts (chance), with a bootstrap interval of the gain; "shuffled" scores the same videos against the next clip's prompt
alone (the older, noisier chance level), "real" the rendered worlds themselves.
"""
import json, os, sys, time
import torch
from vggrpo.video import adherence_vs_chance, colour_adherence, load_pipeline, sample_videos
from vggrpo.worlds import render_clip

device = "cuda" if torch.cuda.is_available() else "cpu"
test = [render_clip(1_010_000 + i) for i in range(64)]
prompts = [c.prompt for c in test]
res = {"prompts": len(prompts), "device": device, "real": adherence_vs_chance(torch.stack([c.rgb for c in test]), prompts)}
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    pipe = load_pipeline(path, device=device)
    for g in [float(x) for x in os.environ.get("GUIDANCE", "4,8").split(",")]:
        t = time.time()
        gens = torch.cat([sample_videos(pipe, prompts[i:i + 32], num_inference_steps=20, guidance_scale=g, seed=1)[1].float().cpu()
                          for i in range(0, len(prompts), 32)])
        res[f"{name} cfg{g:g}"] = dict(adherence_vs_chance(gens, prompts), shuffled=colour_adherence(gens, prompts[1:] + prompts[:1]),
                                       seconds=round(time.time() - t, 1))
        print(name, g, res[f"{name} cfg{g:g}"], flush=True)
    json.dump(res, open(sys.argv[1], "w"), indent=1)
