"""06's generated-latent test, on CPU, for one or more base video models: the shipped LGM on latents each base model samples
for 64 test-split prompts vs Φ on their VAE-decoded frames (exactly `train_lgm`'s generated test: 10-step SDE, guidance 4,
seed 10**6 + batch offset, batches of 32 as in the GPU run).

python nbs/scripts/06_generated_test.py OUT.json NAME=PIPELINE_DIR [NAME=PIPELINE_DIR ...]   (PIPELINE_DIR "tiny": the shipped one)
About 3 minutes per base model on 2 cores. The LGM and Φ are the shipped ones; only the base model changes. The saved result
compares shipped=tiny with previous=the tiny Wan shipped before its fifth DiT call (`git worktree add /tmp/old 0f9cf5f`, then
previous=/tmp/old/vggrpo/weights/tiny-wan with its vae/ weights replaced by the shipped ones: since session 10 the two differ
only in the DiT; the file's "old_decoder" keeps both rows with the decoder shipped before).
"""
import json, sys, time

import torch

from vggrpo.geomodel import GeometryModel
from vggrpo.lgm import LatentGeometryModel, _prompts, evaluate_lgm, generated_clip_data
from vggrpo.video import decode_latents, load_pipeline
from vggrpo.worlds import split_seeds

torch.set_num_threads(2)
phi, lgm = GeometryModel.from_pretrained().eval(), LatentGeometryModel.from_pretrained().eval()
prompts = _prompts(split_seeds("test", 64))
res = {"prompts": len(prompts), "rollout": dict(num_inference_steps=10, guidance_scale=4.0), "seed": 10 ** 6}
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    t0, pipe = time.perf_counter(), load_pipeline(path)
    data = generated_clip_data(pipe, prompts, lambda z: decode_latents(pipe, z), 32, 10 ** 6, num_inference_steps=10, guidance_scale=4.0)
    res[name] = dict(evaluate_lgm(lgm, phi, data, batch_size=8), seconds=round(time.perf_counter() - t0, 1))
    print(name, {k: v for k, v in res[name]["lgm_vs_phi"].items() if not isinstance(v, dict)}, flush=True)
    json.dump(res, open(sys.argv[1], "w"), indent=1, default=float)
