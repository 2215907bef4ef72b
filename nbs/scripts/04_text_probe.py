"""Is the base model's weak colour adherence the text encoder's fault? A linear probe of its prompt embeddings (CPU, about 7 minutes).

Multi-label logistic regression from the mean- and max-pooled embeddings of a prompt to the palette colours it names: trained on
3,000 train-split prompts, scored on 600 held-out ones, for the shipped text encoder and a randomly initialised one.
python nbs/scripts/04_text_probe.py   (writes nbs/results/04_text_probe.json)
"""
import json, time
from pathlib import Path

import numpy as np
import torch
torch.set_num_threads(2)
from vggrpo.video import load_pipeline, build_tiny_pipeline, tokenize_prompts, prompt_embeds_from_ids, prompt_colours
from vggrpo.worlds import render_clip, split_seeds, PALETTE
t0 = time.time()
res = {}
train = [render_clip(int(s), 1, 8, 8).prompt for s in split_seeds("train", 3000)]
test = [render_clip(1_010_000 + i, 1, 8, 8).prompt for i in range(600)]
cols = list(PALETTE)
def labels(ps): return torch.tensor([[c in prompt_colours(p) for c in cols] for p in ps], dtype=torch.float32)
@torch.no_grad()
def feats(pipe, ps):
    out = []
    for i in range(0, len(ps), 100):
        ids, mask = tokenize_prompts(pipe.tokenizer, ps[i:i+100])
        h = prompt_embeds_from_ids(pipe.text_encoder, ids, mask).float()
        m = mask[..., None].float()
        out.append(torch.cat([(h * m).sum(1) / m.sum(1), h.amax(1)], 1))
    return torch.cat(out)
ytr, yte = labels(train), labels(test)
print("base rate per colour", dict(zip(cols, yte.mean(0).numpy().round(2))))
for name, pipe in (("shipped", load_pipeline("tiny")), ("random init", build_tiny_pipeline(0))):
    Xtr, Xte = feats(pipe, train), feats(pipe, test)
    mu, sd = Xtr.mean(0), Xtr.std(0) + 1e-6
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    W = torch.zeros(Xtr.shape[1], len(cols), requires_grad=True); b = torch.zeros(len(cols), requires_grad=True)
    opt = torch.optim.Adam([W, b], lr=1e-2)
    for _ in range(500):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Xtr @ W + b, ytr) + 1e-3 * W.pow(2).sum()
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad(): acc = ((Xte @ W + b > 0).float() == yte).float().mean(0)
    maj = torch.maximum(yte.mean(0), 1 - yte.mean(0))
    res[name] = dict(accuracy=dict(zip(cols, acc.tolist())), mean_accuracy=float(acc.mean()), majority=float(maj.mean()))
    print(name, "probe accuracy per colour", dict(zip(cols, acc.numpy().round(3))), "mean", round(float(acc.mean()), 3), "majority", round(float(maj.mean()), 3), flush=True)
res["seconds"] = time.time() - t0
res["held_out_base_rate"] = dict(zip(cols, yte.mean(0).tolist()))
(Path(__file__).resolve().parents[1] / "results/04_text_probe.json").write_text(json.dumps(res, indent=1))
print(res["seconds"])
