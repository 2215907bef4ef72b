"""GPU training of the tiny Wan (run on the device machine; see nbs/04_video.ipynb).

python nbs/scripts/04_video_gpu.py OUT_DIR STAGE_SPEC
STAGE_SPEC "vae": render, VAE (+ a short DiT warm start); "cont": both continued from the pipeline in ./tinywan_init;
"dit": DiT only, from ./tinywan_init; "decoder": the VAE's decoder only, from ./tinywan_init (vae_train_encoder=False: the
encoder and the latent statistics, and so what the DiT and the LGM read, stay as they are; VAE_FRAMES, VAE_B, VAE_LR);
"freshdecoder": the same, but from a randomly initialised decoder of width DECODER_BASE_DIM (default: the encoder's 32) on the
shipped encoder (a capacity test: run two widths side by side, one per GPU, with RUN_DIR set apart; no pipeline is written). Env: NUM_CLIPS, FIRST_CLIP (skip that many training worlds), RENDER_S, VAE_S, DIT_S,
SAVE_RESERVE_S (default 30), TIME_LIMIT_S (train_base's time_limit_s: everything, saving included, ends within that many seconds of its start; with it
DIT_S can be large, e.g. TIME_LIMIT_S=500 DIT_S=1000 in a 600 s call leaves about 100 s for start-up and the tar).
Writes OUT_DIR/{history.json, info.json, gpu_log.txt, pipeline.tar.part*}. On several GPUs:
accelerate launch --multi_gpu --num_processes N nbs/scripts/04_video_gpu.py OUT_DIR STAGE_SPEC (each process renders its own
share of NUM_CLIPS worlds).
"""
import json, os, subprocess, sys, time
from pathlib import Path

import torch

from vggrpo.video import TrainConfig, train_base

out, spec = Path(sys.argv[1]).resolve(), sys.argv[2]
run = Path(os.environ.get("RUN_DIR", "/tmp/tinywan_run"))
t0 = time.time()
print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu", torch.__version__, flush=True)
torch.backends.cuda.matmul.allow_tf32 = True
torch.backends.cudnn.allow_tf32 = True
common = dict(output_dir=str(run), num_train_clips=int(os.environ.get("NUM_CLIPS", 2560)), num_val_clips=64,
              first_train_clip=int(os.environ.get("FIRST_CLIP", 0)),  # e.g. 14000 after the 4th call: worlds no call has seen
              render_time_budget_s=float(os.environ.get("RENDER_S", 75)), mixed_precision="bf16",
              checkpoint_every=0, log_every=20, resume=False, time_limit_s=float(os.environ.get("TIME_LIMIT_S", 0)),
              save_reserve_s=float(os.environ.get("SAVE_RESERVE_S", 30)))
if os.environ.get("MICRO"):  # a CPU smoke test of this script
    common.update(num_train_clips=4, num_val_clips=2, vae_batch_size=2, dit_batch_size=2, vae_frames=5,
                  model_config='{"vae": {"base_dim": 8, "dim_mult": [1, 1, 1, 1]}, "transformer": {"num_layers": 1}}')
if spec == "freshdecoder":  # a new decoder, of any width, on the shipped encoder: write that pipeline, then train it as "decoder"
    from vggrpo.video import load_pipeline, with_new_decoder
    init = load_pipeline("tiny")
    init.register_modules(vae=with_new_decoder(init.vae, int(os.environ.get("DECODER_BASE_DIM", 0)) or None, int(os.environ.get("SEED", 0))))
    init.save_pretrained(f"tinywan_fresh_{run.name}")
    print("fresh decoder", sum(p.numel() for p in init.vae.decoder.parameters()) / 1e6, "M parameters", flush=True)
if spec == "vae":
    cfg = TrainConfig(**common, vae_time_budget_s=float(os.environ.get("VAE_S", 330)), vae_steps=100000,
                      dit_time_budget_s=float(os.environ.get("DIT_S", 90)), dit_steps=100000)
elif spec == "cont":  # second call: continue the VAE (short crops, big batch), then the DiT, from ./tinywan_init
    cont = dict(stages="vae,dit", init_from=str(Path("tinywan_init").resolve()), warmup_steps=20,
                vae_frames=17, vae_batch_size=int(os.environ.get("VAE_B", 32)), vae_lr=3e-4,
                vae_time_budget_s=float(os.environ.get("VAE_S", 170)), vae_steps=100000,
                dit_time_budget_s=float(os.environ.get("DIT_S", 220)), dit_steps=100000)
    cfg = TrainConfig(**{**cont, **common})
elif spec in ("decoder", "freshdecoder"):  # the decoder alone: the latents stay as they are, so the shipped DiT and LGM stay valid
    init_dir = Path("tinywan_init" if spec == "decoder" else "tinywan_fresh_" + run.name).resolve()
    dec = dict(stages="vae", vae_train_encoder=False, init_from=str(init_dir), warmup_steps=20,
               vae_frames=int(os.environ.get("VAE_FRAMES", 33)), vae_batch_size=int(os.environ.get("VAE_B", 16)),
               vae_lr=float(os.environ.get("VAE_LR", 2e-4)), vae_time_budget_s=float(os.environ.get("VAE_S", 1000)), vae_steps=100000)
    cfg = TrainConfig(**{**dec, **common})
else:
    cfg = TrainConfig(**common, stages="dit", init_from=str(Path("tinywan_init").resolve()), warmup_steps=50,
                      dit_time_budget_s=float(os.environ.get("DIT_S", 420)), dit_steps=100000)
pipe = train_base(cfg)
print(f"total {time.time() - t0:.0f} s", flush=True)
if torch.distributed.is_available() and torch.distributed.is_initialized():  # under `accelerate launch --multi_gpu`
    torch.distributed.barrier(); torch.distributed.destroy_process_group()
    if int(os.environ.get("RANK", 0)) != 0: sys.exit(0)  # the main process writes the outputs
tag = spec + (os.environ.get("DECODER_BASE_DIM", "") if spec == "freshdecoder" else "")  # the width names a fresh decoder's files only
for name in ("history.json", "info.json"):
    (out / f"{tag}_{name}").write_text((run / name).read_text())
if spec == "freshdecoder": sys.exit(0)
subprocess.run(f"cd {run} && tar cf - pipeline | split -b 15m - {out}/{spec}_pipeline.tar.part", shell=True, check=True)
