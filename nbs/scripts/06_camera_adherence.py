"""Does a clip make the camera move its prompt names? Read by the shipped LGM from latents, on CPU (about 4 minutes on 2 idle cores).

python nbs/scripts/06_camera_adherence.py [NAME=PIPELINE_DIR ...]   (from the repo root; default: shipped=tiny;
writes nbs/results/06_camera_adherence.json)
`CameraMoveClassifier` is fitted on the ground-truth cameras of 512 training worlds (rendering only). It then names the
move of 64 test worlds from their ground-truth cameras, from the LGM on the latents of the same clips, and from the LGM on
the latents each base model samples for their prompts (20 steps, guidance 4, seed 1: the samples of 04's colour adherence).
The saved result: shipped=tiny previous=/tmp/old/vggrpo/weights/tiny-wan (the base model before its fifth DiT call, from
`git worktree add /tmp/old 0f9cf5f`).
"""
import json, os, sys, time
from pathlib import Path

import torch

from vggrpo.lgm import (CAMERA_MOVES, CameraMoveClassifier, LatentGeometryModel, _prompts, camera_adherence_vs_chance,
                        camera_move_descriptor, encoded_clip_data, prompt_camera_move, world_move_descriptors)
from vggrpo.video import encode_video, load_pipeline, sample_videos
from vggrpo.worlds import split_seeds

torch.set_num_threads(2)
root = Path(__file__).resolve().parents[1]
t0 = time.perf_counter()
lgm = LatentGeometryModel.from_pretrained().eval()
fit_seeds, test_seeds = split_seeds("train", int(os.environ.get("FIT", 512))), split_seeds("test", int(os.environ.get("TEST", 64)))  # smaller: a smoke test
fit_moves = [prompt_camera_move(p) for p in _prompts(fit_seeds)]
fit = world_move_descriptors(fit_seeds)
classifier = CameraMoveClassifier(fit, fit_moves)
print(f"fitted on {len(fit)} worlds in {time.perf_counter() - t0:.0f} s", flush=True)

@torch.no_grad()
def lgm_moves(latents):
    out = [lgm(latents[i:i + 16]) for i in range(0, len(latents), 16)]
    return classifier.predict(camera_move_descriptor(torch.cat([o.c2w for o in out]), torch.cat([o.depth for o in out])))

def confusion(predicted, prompts):
    m = torch.zeros(len(CAMERA_MOVES), len(CAMERA_MOVES), dtype=torch.long)
    for move, p in zip(predicted, prompts): m[CAMERA_MOVES.index(prompt_camera_move(p)), CAMERA_MOVES.index(move)] += 1
    return m.tolist()

base = load_pipeline("tiny")
test = encoded_clip_data(test_seeds, lambda v: encode_video(base, v), batch_size=16)
prompts = _prompts(test_seeds)
read = {"ground truth, real clips": classifier.predict(camera_move_descriptor(test["c2w"], test["depth"])),
        "LGM on latents, real clips": lgm_moves(test["latents"])}
for arg in sys.argv[1:] or ["shipped=tiny"]:
    name, path = arg.split("=", 1)
    pipe = base if path == "tiny" else load_pipeline(path)
    latents = torch.cat([sample_videos(pipe, prompts[i:i + 32], num_inference_steps=20, guidance_scale=4.0, seed=1, decode=False)[0]
                         for i in range(0, len(prompts), 32)])
    read[f"LGM on latents, {name} base model"] = lgm_moves(latents.float())
    print(name, f"{time.perf_counter() - t0:.0f} s", flush=True)
res = dict(fit_clips=len(fit), test_clips=len(prompts), moves_named={m: sum(prompt_camera_move(p) == m for p in prompts) for m in CAMERA_MOVES},
           rows={k: camera_adherence_vs_chance(v, prompts) for k, v in read.items()},
           confusion={k: confusion(v, prompts) for k, v in read.items() if k != "ground truth, real clips"},
           predicted=read, prompts=prompts, seconds=round(time.perf_counter() - t0, 1))
for k, r in res["rows"].items(): print(f"{k:>45} adherence {r['adherence']:.3f} chance {r['chance']:.3f} gain {r['gain']:.3f} {r['gain_ci']}")
Path(os.environ.get("OUT", root / "results/06_camera_adherence.json")).write_text(json.dumps(res, indent=1))
