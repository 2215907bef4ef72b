"Properties of vggrpo.rewards on ground-truth world clips (issue 5)."
from functools import lru_cache

import pytest
import torch
from scipy.stats import spearmanr

from vggrpo.geometry import axis_angle_to_matrix, make_pose, pose_encoding_from_cameras
from vggrpo.rewards import (DEFAULT_REWARD_WEIGHTS, camera_motion_errors, camera_smoothness_reward, clip_geometry,
                            explore_rewards, perturb_cameras, perturb_depth, reprojection_consistency_reward,
                            reprojection_errors, reward_explorer, rewards_from_geometry)
from vggrpo.worlds import render_clip

AMPLITUDES = [0.0, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0]
# a rigid change of world frame
G = make_pose(axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.7], dtype=torch.float64)),
              torch.tensor([4.0, -2.0, 9.0], dtype=torch.float64))



@lru_cache(maxsize=None)
def clip(seed, path=None, shake=0.0, dynamic=False, stride=1, size=64, frames=33):
    return render_clip(seed, frames, size, size, camera_path=path, shake=shake, dynamic=dynamic, flow_stride=stride)


def geometry(seed, path=None, shake=0.0, dynamic=False, stride=1):
    "Stride 4: the 9 latent frames of a 33 x 64 x 64 clip; stride 1: every frame of a 17 x 48 x 48 clip (cheaper)."
    size, frames = (64, 33) if stride == 4 else (48, 17)
    return clip_geometry(clip(seed, path, shake, dynamic, stride, size, frames), stride)


def geo(g, **kw):
    return reprojection_consistency_reward(g["depth"], g["K"], g["c2w"], **kw)


def rel_close(a, b, tol=1e-4):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert ((a - b).abs() <= tol * b.abs().clamp_min(1e-12)).all(), (a, b)


# ---------------------------------------------------------------- smoothness
@pytest.mark.parametrize("path", ["dolly", "orbit"])
@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("seed", [3, 7])
def test_smoothness_decreases_with_shake(path, stride, seed):
    c2w = torch.stack([clip(seed, path, a, size=8).c2w[::stride] for a in AMPLITUDES])
    rewards = camera_smoothness_reward(c2w)
    assert (rewards[0] >= rewards[1:]).all(), rewards  # the steady path beats every shaken version
    assert spearmanr(AMPLITUDES, rewards.numpy())[0] <= -0.9, rewards


def test_smoothness_steady_dolly_is_perfect_orbit_nearly():
    assert camera_smoothness_reward(clip(3, "dolly", size=8).c2w[None]).item() == pytest.approx(1.0, abs=1e-4)  # float32 poses
    orbit = camera_smoothness_reward(clip(3, "orbit", size=8).c2w[None]).item()
    assert 0.98 < orbit <= 1.0


@pytest.mark.parametrize("stride", [1, 4])
def test_smoothness_scale_and_world_frame_invariant(stride):
    c2w = torch.stack([clip(s, p, 0.7, size=8).c2w[::stride] for s, p in ((0, "orbit"), (1, "dolly"), (2, "crane"))]).double()
    reference = camera_smoothness_reward(c2w)
    for scale in (0.01, 0.1, 10.0, 100.0):
        scaled = c2w.clone()
        scaled[..., :3, 3] *= scale
        rel_close(camera_smoothness_reward(scaled), reference)
        rel_close(camera_smoothness_reward(scaled, scene_scale=torch.full((3,), 5.0 * scale)),
                  camera_smoothness_reward(c2w, scene_scale=torch.full((3,), 5.0)))
    rel_close(camera_smoothness_reward(G @ c2w), reference)
    rel_close(camera_smoothness_reward((G @ c2w).float()), reference)  # float32 input too


def test_smoothness_static_short_and_pure_rotation():
    static = clip(0, "static", size=8).c2w[None]
    assert camera_smoothness_reward(static).item() == 1.0
    pan = clip(0, "pan", size=8).c2w[None]
    assert camera_smoothness_reward(pan).item() == pytest.approx(1.0, abs=1e-3)  # constant-rate turn
    shaken_pan = clip(0, "pan", 1.0, size=8).c2w[None]
    assert camera_smoothness_reward(shaken_pan) < camera_smoothness_reward(pan) - 0.05
    for c2w in (static[:, :3], pan[:, :3], shaken_pan[:, :3], clip(0, "orbit", 1.0, size=8).c2w[None, :3]):
        r = camera_smoothness_reward(c2w)
        assert torch.isfinite(r).all() and 0.5 <= r.item() <= 1.0
    errors = camera_motion_errors(static)
    assert errors["translation"].shape == (1, 31) and (errors["translation"] == 0).all()


def test_smoothness_batched_and_bad_input():
    c2w = torch.stack([clip(s, "orbit", 0.5 * s, size=8).c2w for s in range(3)])
    batched = camera_smoothness_reward(c2w)
    assert batched.shape == (3,)
    rel_close(batched, torch.cat([camera_smoothness_reward(c2w[i:i + 1]) for i in range(3)]), 1e-6)
    bad = c2w.clone()
    bad[1, 4, 0, 3] = float("nan")
    with pytest.raises(ValueError, match="c2w.*NaN"):
        camera_smoothness_reward(bad)
    with pytest.raises(ValueError, match=r"c2w.*\[B, T, 4, 4\]"):
        camera_smoothness_reward(c2w[0])
    with pytest.raises(ValueError, match="at least 3 frames"):
        camera_smoothness_reward(c2w[:, :2])
    with pytest.raises(TypeError, match="c2w"):
        camera_smoothness_reward(c2w.numpy())


def test_smoothness_degenerate_finite_input():
    g = torch.Generator().manual_seed(0)
    for c2w in (torch.zeros(2, 5, 4, 4), torch.randn(2, 5, 4, 4, generator=g) * 1e3, torch.eye(4).expand(2, 5, 4, 4) * 1e-30,
                torch.eye(4).expand(2, 3, 4, 4)):
        r = camera_smoothness_reward(c2w)
        assert torch.isfinite(r).all() and ((r >= 0.5) & (r <= 1.0)).all(), r


# ---------------------------------------------------------------- reprojection consistency
@pytest.mark.parametrize("stride", [1, 4])
def test_reprojection_ground_truth_beats_perturbations_monotonically(stride):
    g = geometry(2, "orbit", 0.5, stride=stride)
    sizes = [0.0, 0.01, 0.03, 0.1, 0.3]
    noisy = torch.cat([geo(dict(g, depth=perturb_depth(g["depth"], s))) for s in sizes])
    shaken = torch.cat([geo(dict(g, c2w=perturb_cameras(g["c2w"], 10 * s))) for s in sizes])
    moved = torch.cat([geo(dict(g, c2w=perturb_cameras(g["c2w"], 0.0, 0.5 * s))) for s in sizes])
    for rewards in (noisy, shaken, moved):
        assert (rewards.diff() < 0).all(), rewards
    assert noisy[0] > 0.99  # ground truth is (nearly) perfectly consistent


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("seed", [0, 2])
def test_reprojection_dynamic_handling(stride, seed):
    static = geo(geometry(seed, shake=0.3, stride=stride)).item()
    d = geometry(seed, shake=0.3, dynamic=True, stride=stride)
    assert d["dynamic_mask"].any()
    error = lambda r: 1 / r - 1  # mean of the worst per-view errors
    e_static, e_none = error(static), error(geo(d).item())
    assert e_none > 2 * e_static, (e_static, e_none)  # without handling: clearly worse
    handled = [dict(dynamic_mask=d["dynamic_mask"]), dict(scene_flow=d["scene_flow"], dynamic_mask=d["dynamic_mask"])]
    if stride == 4:  # the latent setting: flow spanning 4 frames is enough on its own
        handled.append(dict(scene_flow=d["scene_flow"]))
    for kw in handled:  # with handling: close to the static clip's
        e = error(geo(d, **kw).item())
        assert e < e_static + 0.25 * (e_none - e_static), (sorted(kw), e_static, e, e_none)


def test_reprojection_scale_and_world_frame_invariant():
    g = clip_geometry([clip(0, None, 0.5, True, 4), clip(1, None, 0.5, False, 4)], 4)
    for kw in ({}, {"scene_flow": True}, {"dynamic_mask": True}):
        extra = {k: g[k] for k in kw}
        reference = geo(g, **extra)
        for scale in (0.01, 100.0):
            c2w = g["c2w"].double().clone()
            c2w[..., :3, 3] *= scale
            scaled = {k: (v.double() * scale if k == "scene_flow" else v) for k, v in extra.items()}
            rel_close(reprojection_consistency_reward(g["depth"].double() * scale, g["K"], c2w, **scaled), reference)
        moved = {k: (v.double() @ G[:3, :3].T if k == "scene_flow" else v) for k, v in extra.items()}
        rel_close(reprojection_consistency_reward(g["depth"], g["K"], G @ g["c2w"].double(), **moved), reference)


def test_reprojection_out_of_view_and_occlusion_are_masked():
    # a truck: the first and last frames see content the others do not (out of view), objects occlude the floor
    g = geometry(1, "truck", 0.0, stride=4)
    out = reprojection_errors(g["depth"], g["K"], g["c2w"])
    assert out["coverage"].min() < 0.97  # some pixels are not checked ...
    assert out["per_view"].max() < 0.01  # ... and not penalised
    assert (out["error"][out["weight"] == 0] == 0).all()
    # two views 8 frames apart: without the occlusion rule, points hidden behind surfaces only one
    # view sees would count as errors
    orbit = geometry(0, "orbit", 0.0, stride=4)
    two = [orbit["depth"][:, [0, 2]], orbit["K"], orbit["c2w"][:, [0, 2]]]
    masked = reprojection_errors(*two)
    unmasked = reprojection_errors(*two, occlusion_margin=float("inf"))
    assert masked["coverage"].max() < 0.8 and masked["per_view"].max() < 0.005
    assert unmasked["per_view"].max() > 2 * masked["per_view"].max(), (masked["per_view"], unmasked["per_view"])
    # a camera that sees nothing of the others (all points behind it) gets the worst error, not NaN
    turned = g["c2w"].clone()
    turned[:, 0, :3, :3] = g["c2w"][:, 0, :3, :3] @ axis_angle_to_matrix(torch.tensor([0.0, torch.pi, 0.0]))  # looks backwards
    per_view = reprojection_errors(g["depth"], g["K"], turned)["per_view"]
    assert torch.isfinite(per_view).all() and per_view[0, 0] == 1.0


def test_reprojection_confidence_weighting():
    g = geometry(4, "orbit", 0.0, stride=4)
    bad = g["depth"].clone()
    bad[:, 4, 16:48, 16:48] *= 0.7
    conf = torch.ones_like(bad)
    conf[:, 4, 16:48, 16:48] = 0.0
    clean, corrupted = geo(g), geo(dict(g, depth=bad))
    trusted_less = geo(dict(g, depth=bad), conf=conf)
    assert corrupted < clean - 0.02 and trusted_less > corrupted + 0.02
    rel_close(trusted_less, clean, 1e-3)
    # uniform confidence changes nothing
    rel_close(geo(g, conf=torch.full_like(g["depth"], 0.3)), clean, 1e-6)


def test_reprojection_batched():
    g = clip_geometry([clip(s, None, 0.5, True, 4) for s in (0, 1, 2)], 4)
    batched = geo(g, scene_flow=g["scene_flow"])
    assert batched.shape == (3,) and batched.dtype == torch.float32
    one_by_one = torch.cat([reprojection_consistency_reward(g["depth"][i:i + 1], g["K"][i:i + 1], g["c2w"][i:i + 1],
                                                            scene_flow=g["scene_flow"][i:i + 1]) for i in range(3)])
    rel_close(batched, one_by_one, 1e-6)
    per_frame_K = g["K"][:, None].expand(-1, 9, 3, 3)
    rel_close(reprojection_consistency_reward(g["depth"], per_frame_K, g["c2w"], scene_flow=g["scene_flow"]), batched, 1e-6)


def test_reprojection_bad_input_is_a_clear_error():
    g = geometry(0, stride=4)
    for name in ("depth", "K", "c2w"):
        bad = dict(g)
        bad[name] = g[name].clone()
        bad[name].view(-1)[3] = float("nan")
        with pytest.raises(ValueError, match=f"{name}.*NaN"):
            geo(bad)
    for name in ("conf", "scene_flow"):
        value = torch.ones_like(g["depth"]) if name == "conf" else g["scene_flow"].clone()
        value.view(-1)[5] = float("inf")
        with pytest.raises(ValueError, match=f"{name}.*NaN or Inf"):
            geo(g, **{name: value})
    with pytest.raises(ValueError, match=r"depth.*\[B, T, H, W\]"):
        reprojection_consistency_reward(g["depth"][0], g["K"], g["c2w"])
    with pytest.raises(ValueError, match="c2w.*to match depth"):
        reprojection_consistency_reward(g["depth"], g["K"], g["c2w"][:, :5])
    with pytest.raises(ValueError, match="K.*to match depth"):
        reprojection_consistency_reward(g["depth"], g["K"][:, None].expand(1, 4, 3, 3), g["c2w"])
    with pytest.raises(ValueError, match="conf.*non-negative"):
        geo(g, conf=-torch.ones_like(g["depth"]))
    with pytest.raises(ValueError, match="scene_flow.*shape"):
        geo(g, scene_flow=g["scene_flow"][..., :2])
    with pytest.raises(ValueError, match="K.*singular"):
        reprojection_consistency_reward(g["depth"], torch.zeros(1, 3, 3), g["c2w"])
    with pytest.raises(TypeError, match="depth"):
        reprojection_consistency_reward(g["depth"].numpy(), g["K"], g["c2w"])


def test_reprojection_degenerate_finite_input():
    g = geometry(0, stride=4)
    gen = torch.Generator().manual_seed(0)
    same_camera = g["c2w"][:, :1].expand_as(g["c2w"]).contiguous()  # zero motion
    same_depth = g["depth"][:, :1].expand_as(g["depth"]).contiguous()
    cases = [
        dict(g, depth=torch.zeros_like(g["depth"])),  # nothing to check: worst value, 0.5
        dict(g, depth=-g["depth"]),
        dict(g, depth=torch.full_like(g["depth"], 1e-30)),
        dict(g, depth=g["depth"] * 1e30),
        dict(g, c2w=same_camera, depth=same_depth),
        dict(g, c2w=torch.zeros_like(g["c2w"])),
        dict(g, c2w=torch.randn(g["c2w"].shape, generator=gen) * 100),
        dict(g, depth=torch.rand(g["depth"].shape, generator=gen)),
    ]
    for case in cases:
        r = geo(case, scene_flow=g["scene_flow"], conf=torch.zeros_like(g["depth"]) if case is cases[1] else None)
        assert torch.isfinite(r).all() and 0.5 <= r.item() <= 1.0, r
    assert geo(cases[0]).item() == 0.5
    assert geo(cases[4]).item() > 0.999  # a camera that does not move, seeing the same depth: consistent


# ---------------------------------------------------------------- one code path
def test_rewards_from_geometry_terms_weights_and_pose_encoding():
    g = clip_geometry([clip(5, "orbit", a, True, 4) for a in (0.0, 1.5)], 4)
    total, terms = rewards_from_geometry(g)
    assert set(terms) == set(DEFAULT_REWARD_WEIGHTS) and total.shape == (2,)
    rel_close(total, 0.5 * terms["camera_smoothness"] + 0.5 * terms["reprojection_consistency"], 1e-6)
    assert terms["camera_smoothness"][0] > terms["camera_smoothness"][1]
    rel_close(terms["reprojection_consistency"], geo(g, scene_flow=g["scene_flow"], dynamic_mask=g["dynamic_mask"]), 1e-6)
    # VGGT-style pose encoding gives the same rewards as explicit cameras
    encoded = {k: v for k, v in g.items() if k not in ("c2w", "K")}
    encoded["pose_enc"] = pose_encoding_from_cameras(g["c2w"].double(), g["K"][:, None].double(), image_size=(64, 64))
    encoded["depth"] = g["depth"][..., None]  # [B, T, H, W, 1] as a depth head returns it
    total_enc, terms_enc = rewards_from_geometry(encoded)
    rel_close(total_enc, total, 1e-4)
    only, only_terms = rewards_from_geometry(g, weights={"camera_smoothness": 1.0})
    assert set(only_terms) == {"camera_smoothness"}
    rel_close(only, terms["camera_smoothness"], 1e-6)
    without, _ = rewards_from_geometry(g, use_scene_flow=False)
    assert (without < total).all()
    with pytest.raises(ValueError, match="non-zero weight"):
        rewards_from_geometry(g, weights={"camera_smoothness": 0.0})
    with pytest.raises(ValueError, match="unknown terms"):
        rewards_from_geometry(g, weights={"smoothness": 1.0})
    with pytest.raises(ValueError, match="cameras"):
        rewards_from_geometry({"depth": g["depth"]})
    with pytest.raises(TypeError, match="outputs"):
        rewards_from_geometry([g["depth"]])


# ---------------------------------------------------------------- explorer (headless)
def test_explore_rewards_reacts_to_every_knob():
    base = explore_rewards()
    assert base["errors"]["error"].shape == (1, 9, 64, 64)
    assert explore_rewards(shake=2.0)["terms"]["camera_smoothness"] < base["terms"]["camera_smoothness"] - 0.02
    assert explore_rewards(depth_noise=0.1)["terms"]["reprojection_consistency"] < base["terms"]["reprojection_consistency"] - 0.01
    assert explore_rewards(dynamic_handling=False)["terms"]["reprojection_consistency"] < base["terms"]["reprojection_consistency"]
    static = explore_rewards(object_speed=0.0)
    assert not static["geometry"]["dynamic_mask"].any()
    fast, slow = explore_rewards(object_speed=2.0, dynamic_handling=False), explore_rewards(object_speed=0.5, dynamic_handling=False)
    assert fast["terms"]["reprojection_consistency"] < slow["terms"]["reprojection_consistency"]
    steady, shaky = explore_rewards(shake=1.0, correlation=6.0), explore_rewards(shake=1.0, correlation=1.0)
    assert steady["terms"]["camera_smoothness"] != shaky["terms"]["camera_smoothness"]
    assert explore_rewards(camera_path="dolly")["clip"].camera.kind == "dolly"


def test_reward_explorer_widget_updates_text():
    pytest.importorskip("ipywidgets")
    explorer = reward_explorer()
    before = explorer.children[0].value
    assert "camera smoothness" in before
    explorer.controls["shake"].value = 2.0
    assert explorer.children[0].value != before


def test_rewards_are_differentiable():
    "Finite gradients w.r.t. depth and cameras (for reward guidance through a differentiable geometry model)."
    g = geometry(0, dynamic=True, stride=4)
    depth = perturb_depth(g["depth"], 0.05).double().requires_grad_()
    c2w = perturb_cameras(g["c2w"], 1.0).double().requires_grad_()
    total, _ = rewards_from_geometry(dict(g, depth=depth, c2w=c2w))
    total.sum().backward()
    for grad in (depth.grad, c2w.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    r0 = geo(dict(g, depth=depth.detach(), c2w=c2w.detach()), scene_flow=g["scene_flow"], dynamic_mask=g["dynamic_mask"])
    depth.grad = None
    geo(dict(g, depth=depth, c2w=c2w.detach()), scene_flow=g["scene_flow"], dynamic_mask=g["dynamic_mask"]).sum().backward()
    r1 = geo(dict(g, depth=depth.detach() + 100 * depth.grad, c2w=c2w.detach()), scene_flow=g["scene_flow"],
             dynamic_mask=g["dynamic_mask"])
    assert r1 > r0  # an ascent step on the depth makes it more consistent


# ---------------------------------------------------------------- latent and RGB rewards (plumbing, random weights)
def test_latent_and_rgb_rewards_share_the_code_path():
    video = pytest.importorskip("vggrpo.video")
    geomodel = pytest.importorskip("vggrpo.geomodel")
    from vggrpo.rewards import LatentGeometryReward, RGBGeometryReward, geometry_outputs_dict
    pipe = video.build_tiny_pipeline(0)
    torch.manual_seed(0)
    phi = geomodel.GeometryModel(hidden_size=64, num_layers=2, num_heads=2).eval()
    lgm = geomodel.GeometryModel(sample_size=4, patch_size=1, in_channels=16, hidden_size=64, num_layers=2, num_heads=2).eval()
    latents = torch.randn(2, 16, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    rgb, latent = RGBGeometryReward(pipe, phi), LatentGeometryReward(lgm, weights={"camera_smoothness": 0.3, "reprojection_consistency": 0.7})
    g_rgb, g_latent = rgb.geometry(latents), latent.geometry(latents)
    assert g_rgb["depth"].shape == (2, 3, 32, 32) and g_latent["depth"].shape == (2, 3, 4, 4)  # one view per latent frame
    assert not g_rgb["depth"].requires_grad  # no graph by default
    totals = {}
    for reward, g in ((rgb, g_rgb), (latent, g_latent)):
        total, terms = totals[type(reward).__name__] = reward(latents)
        assert total.shape == (2,) and torch.isfinite(total).all()
        expected_total, expected_terms = rewards_from_geometry(g, reward.weights)
        rel_close(total, expected_total, 1e-6)
        assert set(terms) == set(expected_terms)
    # by hand: decode, every 4th frame, Φ, rewards
    frames = video.decode_latents(pipe, latents)[:, :, ::4]
    with torch.no_grad():
        by_hand, _ = rewards_from_geometry(geometry_outputs_dict(phi(frames)))
    rel_close(totals['RGBGeometryReward'][0], by_hand, 1e-5)
    with pytest.raises(ValueError, match="latents"):
        latent(torch.randn(2, 16, 3, 4))
    with pytest.raises(ValueError, match="latents.*NaN"):
        latent(torch.full((1, 16, 3, 4, 4), float("nan")))
    # differentiable=True keeps the graph back to the latents (reward guidance through the LGM)
    z = latents.clone().requires_grad_()
    LatentGeometryReward(lgm, differentiable=True)(z)[0].sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
