"GPU check of vggrpo.sde at Wan2.1-1.3B size (random weights): rollout cost, determinism, re-scoring ratios in bf16 and float32."
import json, os, sys, time

import torch
from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

from vggrpo.sde import rollout, trajectory_log_probs

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = "cuda"
torch.manual_seed(0)
with torch.device(device):
    transformer = WanTransformer3DModel(  # Wan2.1-T2V-1.3B's config
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=30, cross_attn_norm=True, qk_norm="rms_norm_across_heads",
        eps=1e-6, rope_max_seq_len=1024,
    )
    text_encoder = T5EncoderModel(T5Config(vocab_size=384, d_model=4096, d_kv=64, d_ff=256, num_layers=1, num_heads=4))
vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
pipe = WanPipeline(tokenizer=ByT5Tokenizer(), text_encoder=text_encoder.eval(), vae=vae.eval(), transformer=transformer.eval(), scheduler=scheduler)
pipe.set_progress_bar_config(disable=True)
kwargs = dict(group_size=4, num_inference_steps=10, guidance_scale=4.5, num_frames=33, height=240, width=416, seed=0)
prompts = ["a red box on a checker floor, the camera orbits left"]
result = {"device": torch.cuda.get_device_name(), "params": sum(p.numel() for p in transformer.parameters()), **kwargs}

for dtype in [torch.bfloat16, torch.float32]:
    transformer.to(dtype)
    name = str(dtype).split(".")[-1]
    rollout(pipe, prompts, **{**kwargs, "num_inference_steps": 2})  # warm-up
    torch.cuda.synchronize(); start = time.time()
    traj = rollout(pipe, prompts, **kwargs)
    torch.cuda.synchronize(); seconds = time.time() - start
    again = rollout(pipe, prompts, **kwargs)
    with torch.no_grad():
        full = trajectory_log_probs(transformer, traj)
        halves = torch.cat([trajectory_log_probs(transformer, traj.select([0, 1])), trajectory_log_probs(transformer, traj.select([2, 3]))])
    result[name] = {
        "latents_shape": list(traj.final_latents.shape),
        "rollout_seconds": seconds,
        "first_sigma": traj.sigmas[0].item(),
        "finite": bool(torch.isfinite(traj.latents).all() and torch.isfinite(traj.log_probs).all()),
        "final_latent_std": traj.final_latents.std().item(),
        "log_prob_first_last": [traj.log_probs[:, 0].mean().item(), traj.log_probs[:, -1].mean().item()],
        "same_seed_identical": bool(torch.equal(again.latents, traj.latents)),
        "max_abs_ratio_minus_1_same_batch": (torch.exp(full - traj.log_probs) - 1).abs().max().item(),
        "max_abs_ratio_minus_1_minibatch_of_2": (torch.exp(halves - traj.log_probs) - 1).abs().max().item(),
        "peak_memory_gb": torch.cuda.max_memory_allocated() / 1e9,
    }
    print(name, json.dumps(result[name]), flush=True)
os.makedirs(sys.argv[1], exist_ok=True)
json.dump(result, open(os.path.join(sys.argv[1], "08_sde_gpu.json"), "w"), indent=1)
