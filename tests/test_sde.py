"Tests of vggrpo.sde as a user imports it: the SDE step, rollouts, re-scoring."
import math

import pytest
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler

from vggrpo.sde import Trajectory, rollout, sde_diffusion, sde_step_with_logprob, step_log_prob, trajectory_log_probs
from vggrpo.video import build_tiny_pipeline

PROMPTS = ["two red boxes on a checker floor, the camera orbits left", "a blue ball rolls, handheld"]


SMALL = {  # vggrpo.video's tiny Wan, shrunk further so that tests take seconds
    "transformer": dict(num_attention_heads=2, attention_head_dim=12, text_dim=32, ffn_dim=32, num_layers=2),
    "text_encoder": dict(d_model=32, d_kv=8, d_ff=64, num_layers=2),
    "vae": dict(base_dim=3, dim_mult=[1, 1, 1, 1]),
}


def tiny_pipeline(euler=True, expand_timesteps=False, seed=0):
    "The project's tiny Wan pipeline (random weights); Euler scheduler so that WanPipeline is comparable bit for bit."
    pipe = build_tiny_pipeline(seed=seed, config=SMALL)
    if euler:
        pipe.scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
    if expand_timesteps:
        pipe.register_to_config(expand_timesteps=True)
    return pipe


@pytest.fixture(scope="module")
def pipe():
    return tiny_pipeline()


@pytest.fixture(scope="module")
def traj(pipe):
    return rollout(pipe, PROMPTS, group_size=3, num_inference_steps=6, max_sequence_length=64, seed=0)


# ---------------------------------------------------------------- the step


@pytest.mark.parametrize("shift,steps", [(1.0, 4), (3.0, 10), (7.0, 20)])
def test_zero_noise_is_diffusers_euler_step(shift, steps):
    scheduler = FlowMatchEulerDiscreteScheduler(shift=shift)
    scheduler.set_timesteps(steps)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 16, 3, 4, 4, generator=gen)
    for i, t in enumerate(scheduler.timesteps):
        v = torch.randn(x.shape, generator=gen)
        expected = scheduler.step(v, t, x, return_dict=False)[0]
        ours, log_prob, mean, std = sde_step_with_logprob(v, scheduler.sigmas[i], scheduler.sigmas[i + 1], x, noise_level=0.0)
        assert torch.equal(ours, expected) and torch.equal(mean, expected)
        assert torch.equal(log_prob, torch.zeros(2)) and torch.equal(std, torch.zeros_like(std))
        x = expected


def test_rescoring_gives_ratio_one_per_sample_sigmas():
    gen = torch.Generator().manual_seed(1)
    x, v = torch.randn(4, 16, 9, 8, 8, generator=gen), torch.randn(4, 16, 9, 8, 8, generator=gen)
    sigma, sigma_next = torch.tensor([1.0, 0.9, 0.5, 0.1]), torch.tensor([0.95, 0.8, 0.4, 0.0])
    sampled, log_prob, mean, std = sde_step_with_logprob(v, sigma, sigma_next, x, generator=gen)
    _, rescored, mean2, std2 = sde_step_with_logprob(v, sigma, sigma_next, x, prev_sample=sampled)
    assert log_prob.shape == (4,) and std.shape == (4, 1, 1, 1, 1)
    torch.testing.assert_close(torch.exp(rescored - log_prob), torch.ones(4), atol=1e-5, rtol=0)
    assert torch.equal(mean, mean2) and torch.equal(std, std2)
    # scoring a different sample gives a lower log-prob than the mean itself
    _, at_mean, _, _ = sde_step_with_logprob(v, sigma, sigma_next, x, prev_sample=mean)
    assert (at_mean > log_prob).all()


def test_samples_have_the_scored_mean_and_std():
    gen = torch.Generator().manual_seed(2)
    x, v = torch.randn(1, 3, 2, 2, 2, generator=gen), torch.randn(1, 3, 2, 2, 2, generator=gen)
    draws = []
    for _ in range(4000):
        sampled, _, mean, std = sde_step_with_logprob(v, 0.6, 0.5, x, noise_level=0.8, generator=gen)
        draws.append(sampled)
    draws = torch.cat(draws)
    torch.testing.assert_close(draws.mean(0), mean[0], atol=4 * std.item() / math.sqrt(4000) * 1.5, rtol=0)
    torch.testing.assert_close(draws.std(0), std.expand_as(mean)[0], atol=0.05 * std.item(), rtol=0)
    # the std is g sqrt(-dt) with g the Flow-GRPO coefficient away from sigma = 1
    torch.testing.assert_close(std.flatten(), torch.tensor([0.8 * math.sqrt(0.6 / 0.4) * math.sqrt(0.1)]))


@pytest.mark.parametrize("first_sigma", [1.0, 1 - 1e-6, "unipc"])
@pytest.mark.parametrize("steps", [10, 50])
def test_first_step_near_sigma_one_is_sane(first_sigma, steps):
    if first_sigma == "unipc":
        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
        scheduler.set_timesteps(steps)
        sigmas = scheduler.sigmas
        assert 0 < 1 - sigmas[0] < 1e-5  # the trap is real in Wan's default scheduler
    else:
        scheduler = FlowMatchEulerDiscreteScheduler(shift=3.0)
        scheduler.set_timesteps(steps)
        sigmas = scheduler.sigmas.clone()
        sigmas[0] = first_sigma
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 16, 9, 8, 8, generator=gen)
    v = torch.randn(x.shape, generator=gen) - x  # velocity of a model that predicts x0 ~ N(0, 2)
    sampled, log_prob, mean, std = sde_step_with_logprob(v, sigmas[0], sigmas[1], x, noise_level=0.7, generator=gen)
    assert torch.isfinite(sampled).all() and torch.isfinite(log_prob).all()
    assert 0 < std.max() <= 0.7  # s^2 = g^2 |dt| <= a^2 tau
    assert sampled.std() < 2.0 and mean.std() < 2.0  # no explosion
    # the x-coefficient of the mean stays positive: mean(x) - mean(0) is a shrink, not a flip
    _, _, mean0, _ = sde_step_with_logprob(v, sigmas[0], sigmas[1], torch.zeros_like(x), noise_level=0.7)
    coefficient = ((mean - mean0) * x).sum() / (x * x).sum()
    assert 1 - 0.7**2 / 2 - 1e-4 <= coefficient <= 1


def test_diffusion_matches_flow_grpo_away_from_one():
    sigma = torch.linspace(0.05, 0.8, 16)
    torch.testing.assert_close(sde_diffusion(sigma, sigma - 0.01, 0.7), 0.7 * torch.sqrt(sigma / (1 - sigma)))


def test_step_computes_in_float32_and_is_differentiable():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, 3, 2, 2, generator=gen)
    v = torch.randn(x.shape, generator=gen).bfloat16().requires_grad_()
    sampled, log_prob, mean, std = sde_step_with_logprob(v, 0.5, 0.4, x.bfloat16(), generator=gen)
    assert sampled.dtype == log_prob.dtype == mean.dtype == torch.float32
    log_prob.sum().backward()
    assert v.grad is not None and v.grad.abs().sum() > 0


def test_step_bad_input():
    x = torch.zeros(2, 4, 3, 2, 2)
    with pytest.raises(ValueError, match="same shape"):
        sde_step_with_logprob(torch.zeros(2, 4, 3, 2, 1), 0.5, 0.4, x)
    with pytest.raises(ValueError, match="sigma_next < sigma"):
        sde_step_with_logprob(x, 0.4, 0.5, x)
    with pytest.raises(ValueError, match="sigma <= 1"):
        sde_step_with_logprob(x, 1.5, 0.5, x)
    with pytest.raises(ValueError, match="sigma"):
        sde_step_with_logprob(x, torch.tensor([0.5, 0.4, 0.3]), 0.2, x)
    with pytest.raises(ValueError, match="noise_level"):
        sde_step_with_logprob(x, 0.5, 0.4, x, noise_level=-0.1)
    with pytest.raises(ValueError, match="prev_sample"):
        sde_step_with_logprob(x, 0.5, 0.4, x, prev_sample=torch.zeros(2, 4))
    with pytest.raises(TypeError, match="tensors"):
        sde_step_with_logprob(x.numpy(), 0.5, 0.4, x)


# ---------------------------------------------------------------- rollouts


def test_rollout_record(traj):
    assert isinstance(traj, Trajectory) and len(traj) == 6 and traj.num_steps == 6
    assert traj.latents.shape == (6, 7, 16, 9, 8, 8) and traj.final_latents.shape == (6, 16, 9, 8, 8)
    assert traj.log_probs.shape == (6, 6) and traj.timesteps.shape == (6,) and traj.sigmas.shape == (7,)
    assert traj.group_ids.tolist() == [0, 0, 0, 1, 1, 1] and traj.prompts[3] == PROMPTS[1]
    assert traj.prompt_embeds.shape[0] == traj.negative_prompt_embeds.shape[0] == 6
    assert traj.sde_steps.tolist() == list(range(6))
    assert torch.isfinite(traj.latents).all() and torch.isfinite(traj.log_probs).all()
    # samples of a group share the prompt but not the noise
    assert torch.equal(traj.prompt_embeds[0], traj.prompt_embeds[2])
    assert (traj.final_latents[0] - traj.final_latents[1]).abs().max() > 0.1


def test_rollout_is_deterministic_under_a_seed(pipe, traj):
    again = rollout(pipe, PROMPTS, group_size=3, num_inference_steps=6, max_sequence_length=64, seed=0)
    assert torch.equal(again.latents, traj.latents) and torch.equal(again.log_probs, traj.log_probs)
    other = rollout(pipe, PROMPTS, group_size=3, num_inference_steps=6, max_sequence_length=64, seed=1)
    assert not torch.allclose(other.final_latents, traj.final_latents)


def test_rescoring_a_rollout_gives_ratio_exactly_one(pipe, traj):
    with torch.no_grad():
        rescored = trajectory_log_probs(pipe.transformer, traj)
    ratio = torch.exp(rescored - traj.log_probs)
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
    # a minibatch cut with select scores the same
    with torch.no_grad():
        part, mean, std = step_log_prob(pipe.transformer, traj.select([4, 1]), 3)
    torch.testing.assert_close(part, traj.log_probs[[4, 1], 3], atol=1e-5, rtol=1e-6)
    assert mean.shape == (2, 16, 9, 8, 8) and std.shape == (2, 1, 1, 1, 1)


def test_rescoring_changes_when_weights_change(traj):
    other = tiny_pipeline(seed=5).transformer
    with torch.no_grad():
        rescored = trajectory_log_probs(other, traj, steps=[2])
    assert (rescored[:, 0] - traj.log_probs[:, 2]).abs().max() > 1e-3


def test_zero_noise_rollout_is_wan_pipeline(pipe):
    ode = rollout(pipe, PROMPTS, group_size=2, num_inference_steps=5, noise_level=0.0, max_sequence_length=64, seed=7)
    reference = pipe(
        PROMPTS, num_videos_per_prompt=2, num_frames=33, height=64, width=64, num_inference_steps=5, guidance_scale=5.0,
        max_sequence_length=64, output_type="latent", latents=ode.latents[:, 0].clone(),
    ).frames
    assert torch.equal(ode.final_latents, reference)
    assert len(ode.sde_steps) == 0 and torch.equal(ode.log_probs, torch.zeros(4, 5))


def test_no_guidance_rollout_is_wan_pipeline(pipe):
    ode = rollout(pipe, PROMPTS[:1], group_size=2, num_inference_steps=3, guidance_scale=1.0, noise_level=0.0,
                  max_sequence_length=64, seed=8)
    assert ode.negative_prompt_embeds is None
    reference = pipe(
        PROMPTS[:1], num_videos_per_prompt=2, num_frames=33, height=64, width=64, num_inference_steps=3, guidance_scale=1.0,
        max_sequence_length=64, output_type="latent", latents=ode.latents[:, 0].clone(),
    ).frames
    assert torch.equal(ode.final_latents, reference)


def test_expand_timesteps_pipeline_matches_wan_pipeline():
    pipe = tiny_pipeline(expand_timesteps=True)
    ode = rollout(pipe, PROMPTS[:1], group_size=2, num_inference_steps=3, noise_level=0.0, max_sequence_length=64, seed=9)
    reference = pipe(
        PROMPTS[:1], num_videos_per_prompt=2, num_frames=33, height=64, width=64, num_inference_steps=3,
        max_sequence_length=64, output_type="latent", latents=ode.latents[:, 0].clone(),
    ).frames
    assert ode.expand_timesteps and torch.equal(ode.final_latents, reference)


def test_unipc_schedule_rollout_is_finite_and_rescorable():
    pipe = tiny_pipeline(euler=False)  # Wan's UniPC schedule, as vggrpo.video ships it
    assert isinstance(pipe.scheduler, UniPCMultistepScheduler)
    traj = rollout(pipe, PROMPTS[:1], group_size=2, num_inference_steps=4, max_sequence_length=64, seed=10)
    assert 1 - traj.sigmas[0] < 1e-5
    assert torch.isfinite(traj.latents).all() and traj.latents.abs().max() < 50
    with torch.no_grad():
        ratio = torch.exp(trajectory_log_probs(pipe.transformer, traj) - traj.log_probs)
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)


def test_fast_window_and_shared_noise(pipe):
    fast = rollout(pipe, PROMPTS, group_size=3, num_inference_steps=8, sde_window=2, sde_window_range=(1, 5),
                   shared_initial_noise=True, max_sequence_length=64, seed=11)
    steps = fast.sde_steps.tolist()
    assert len(steps) == 2 and steps[1] == steps[0] + 1 and 1 <= steps[0] and steps[1] < 5
    others = [i for i in range(8) if i not in steps]
    assert torch.equal(fast.log_probs[:, others], torch.zeros(6, 6)) and (fast.log_probs[:, steps] != 0).all()
    assert torch.equal(fast.latents[0, 0], fast.latents[2, 0]) and not torch.equal(fast.latents[0, 0], fast.latents[3, 0])
    # before the window, samples of a group are identical; after it they differ
    assert torch.equal(fast.latents[0, steps[0]], fast.latents[1, steps[0]])
    assert not torch.equal(fast.final_latents[0], fast.final_latents[1])
    with torch.no_grad():
        ratio = torch.exp(trajectory_log_probs(pipe.transformer, fast) - fast.log_probs[:, steps])
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
    # the window position is part of what the seed determines
    again = rollout(pipe, PROMPTS, group_size=3, num_inference_steps=8, sde_window=2, sde_window_range=(1, 5),
                    shared_initial_noise=True, max_sequence_length=64, seed=11)
    assert torch.equal(again.sde_steps, fast.sde_steps) and torch.equal(again.latents, fast.latents)


def test_trajectory_select_and_to(traj):
    part = traj.select(slice(1, 3))
    assert len(part) == 2 and part.prompts == traj.prompts[1:3] and torch.equal(part.latents, traj.latents[1:3])
    assert torch.equal(part.timesteps, traj.timesteps) and part.group_ids.tolist() == [0, 0]
    moved = traj.to("cpu")
    assert torch.equal(moved.latents, traj.latents) and moved.prompts == traj.prompts


def test_rollout_bad_arguments(pipe):
    with pytest.raises(TypeError, match="prompts"):
        rollout(pipe, "a single string", max_sequence_length=64)
    with pytest.raises(ValueError, match="num_frames"):
        rollout(pipe, PROMPTS, num_frames=32, max_sequence_length=64)
    with pytest.raises(ValueError, match="height"):
        rollout(pipe, PROMPTS, height=72, max_sequence_length=64)
    with pytest.raises(ValueError, match="sde_window"):
        rollout(pipe, PROMPTS, num_inference_steps=4, sde_window=3, sde_window_range=(0, 2), max_sequence_length=64)
    with pytest.raises(ValueError, match="group_size"):
        rollout(pipe, PROMPTS, group_size=0, max_sequence_length=64)
    with pytest.raises(ValueError, match="latents"):
        rollout(pipe, PROMPTS, group_size=1, latents=torch.zeros(2, 16, 9, 8, 4), max_sequence_length=64)
    with pytest.raises(TypeError, match="WanPipeline"):
        rollout(object(), PROMPTS)
    with pytest.raises(ValueError, match="step"):
        step_log_prob(pipe.transformer, rollout(pipe, PROMPTS[:1], group_size=1, num_inference_steps=2, max_sequence_length=64), 2)


def test_lora_policy_starts_at_ratio_one_and_gets_gradients(traj):
    "What GRPO does: add a zero-initialised LoRA to the sampling transformer, re-score, back-propagate."
    from peft import LoraConfig

    transformer = tiny_pipeline().transformer  # same seed: the weights that sampled `traj`
    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=8, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    log_prob, mean, std = step_log_prob(transformer, traj, 1)
    torch.testing.assert_close(torch.exp(log_prob - traj.log_probs[:, 1]), torch.ones(6), atol=1e-5, rtol=0)
    (-log_prob.mean()).backward()
    lora = [p for n, p in transformer.named_parameters() if "lora_B" in n]
    assert lora and all(p.grad is not None for p in lora) and sum(p.grad.abs().sum() for p in lora) > 0
    # after an update the policy moves, and with the adapter off it is the reference again
    with torch.no_grad():
        for p in lora:
            p.add_(0.5 * torch.randn_like(p))
        moved, _, _ = step_log_prob(transformer, traj, 1)
        transformer.disable_adapters()
        reference, reference_mean, _ = step_log_prob(transformer, traj, 1)
        transformer.enable_adapters()
    assert (moved - traj.log_probs[:, 1]).abs().max() > 1e-4
    torch.testing.assert_close(reference, traj.log_probs[:, 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(reference_mean, mean.detach(), atol=1e-5, rtol=1e-5)


def test_trajectory_cat(pipe, traj):
    other = rollout(pipe, PROMPTS[:1], group_size=2, num_inference_steps=6, max_sequence_length=64, seed=12)
    joined = Trajectory.cat([traj, other])
    assert len(joined) == 8 and joined.group_ids.tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert joined.prompts[-1] == PROMPTS[0] and torch.equal(joined.latents[6:], other.latents)
    with torch.no_grad():
        ratio = torch.exp(trajectory_log_probs(pipe.transformer, joined) - joined.log_probs)
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
    fast = rollout(pipe, PROMPTS[:1], group_size=2, num_inference_steps=6, sde_window=2, max_sequence_length=64)
    with pytest.raises(ValueError, match="share"):
        Trajectory.cat([traj, fast])


def test_shipped_tiny_model_rollout_rescores_to_ratio_one():
    from vggrpo.video import load_pipeline

    tiny = load_pipeline("tiny")
    traj = rollout(tiny, PROMPTS[:1], group_size=2, num_inference_steps=3, guidance_scale=4.0, seed=0)
    assert traj.final_latents.shape == (2, 16, 9, 8, 8) and torch.isfinite(traj.latents).all()
    assert 1 - traj.sigmas[0] < 1e-5  # the shipped schedule starts in the σ ≈ 1 trap
    with torch.no_grad():
        ratio = torch.exp(trajectory_log_probs(tiny.transformer, traj) - traj.log_probs)
    torch.testing.assert_close(ratio, torch.ones_like(ratio), atol=1e-5, rtol=0)
