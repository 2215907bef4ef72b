"Tests of vggrpo.worlds as a user imports it: API, bad input, exact ground truth, shake, data sets, shards."
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from vggrpo.geometry import matrix_to_axis_angle, project_points, unproject_depth
from vggrpo.worlds import (CAMERA_PATHS, FLOOR, PALETTE, SHAPE_NOUNS, SKY, SPLITS, CameraPath, Scene, Shake,
                           ShardDataset, WorldClip, WorldDataset, band_limited_noise, benchmark_renderer,
                           camera_poses, intersect_box, intersect_cylinder, intersect_sphere, load_shard,
                           object_poses, prerender_shard, prerender_split, render_clip, sample_camera_path, sample_scene,
                           split_seeds, surface_residual)



def seed_with(pred, start=0, dynamic=None):
    "First seed whose sampled scene satisfies `pred`."
    return next(s for s in range(start, start + 500) if pred(sample_scene(s, dynamic=dynamic)))


# ---------------------------------------------------------------- API and bad input

def test_shapes_ranges_and_types():
    clip = render_clip(5, num_frames=9, height=32, width=48, flow_stride=2)
    assert isinstance(clip, WorldClip)
    assert clip.rgb.shape == (3, 9, 32, 48) and clip.rgb.dtype == torch.float32
    assert clip.depth.shape == clip.dynamic_mask.shape == clip.segmentation.shape == (9, 32, 48)
    assert clip.scene_flow.shape == (9, 32, 48, 3) and clip.c2w.shape == (9, 4, 4) and clip.K.shape == (3, 3)
    assert clip.dynamic_mask.dtype == torch.bool
    assert -1 <= clip.rgb.min() and clip.rgb.max() <= 1 and clip.rgb.std() > 0.1
    assert torch.isfinite(clip.depth).all() and clip.depth.min() > 0
    assert clip.K[0, 2] == 24 and clip.K[1, 2] == 16  # principal point (W/2, H/2)
    R = clip.c2w[:, :3, :3]
    torch.testing.assert_close(R.transpose(-1, -2) @ R, torch.eye(3).expand(9, 3, 3), atol=1e-5, rtol=0)
    assert isinstance(clip.prompt, str) and clip.seed == 5 and clip.flow_stride == 2


def test_deterministic_and_seed_dependent():
    a, b, c = render_clip(12, num_frames=5), render_clip(12, num_frames=5), render_clip(13, num_frames=5)
    for k in ("rgb", "depth", "c2w", "scene_flow", "segmentation"):
        assert torch.equal(getattr(a, k), getattr(b, k))
    assert a.prompt == b.prompt and a.scene == b.scene
    assert not torch.equal(a.rgb, c.rgb)


@pytest.mark.parametrize("kwargs,err,msg", [
    (dict(num_frames=0), ValueError, "num_frames"),
    (dict(height=-4), ValueError, "height"),
    (dict(width=2.5), ValueError, "width"),
    (dict(flow_stride=0), ValueError, "flow_stride"),
    (dict(camera_path="zoom"), ValueError, "camera_path"),
    (dict(camera_path=3), TypeError, "camera_path"),
    (dict(shake="lots"), TypeError, "shake"),
    (dict(shake=-1.0), TypeError, "shake"),
    (dict(dynamic="yes"), TypeError, "dynamic"),
])
def test_bad_input(kwargs, err, msg):
    with pytest.raises(err, match=msg):
        render_clip(0, **kwargs)


def test_bad_seed():
    with pytest.raises(TypeError, match="non-negative int"):
        render_clip(-3)
    with pytest.raises(TypeError, match="non-negative int"):
        render_clip(1.5)


def test_overrides_keep_the_scene():
    s = seed_with(lambda sc: True)
    d0, d1 = render_clip(s, num_frames=5, dynamic=False), render_clip(s, num_frames=5, dynamic=True)
    assert [o.position for o in d0.scene.objects] == [o.position for o in d1.scene.objects]
    assert not d0.dynamic_mask.any() and d1.scene.dynamic and not d0.scene.dynamic
    assert not d0.scene_flow.any()
    for kind in CAMERA_PATHS:
        clip = render_clip(s, num_frames=5, camera_path=kind)
        assert clip.camera.kind == kind and clip.scene == d0.scene
    assert not render_clip(s, num_frames=5, shake=False).shake.handheld
    assert render_clip(s, num_frames=5, shake=2.0).shake.rotation == pytest.approx(2 * Shake.rotation)
    own = CameraPath("orbit", radius=5.0, height=1.5, amount=0.5)
    assert render_clip(s, num_frames=5, camera_path=own).camera == own


def test_scene_contents():
    for s in range(40):
        sc = sample_scene(s)
        assert 3 <= len(sc.objects) <= 6
        for o in sc.objects:
            assert o.colour in PALETTE and o.shape in SHAPE_NOUNS and o.material.colour == PALETTE[o.colour]
            assert o.position[1] == pytest.approx(o.size[1])  # resting on the floor
        sc = sample_scene(s, dynamic=True)
        assert 1 <= sum(o.motion is not None for o in sc.objects) <= 2
        assert Scene.from_dict(json.loads(json.dumps(__import__("dataclasses").asdict(sc)))) == sc


def test_objects_never_overlap_along_their_paths():
    for s in range(40):
        sc = sample_scene(s, dynamic=True)
        R, c = object_poses(sc, torch.linspace(0, 1.25, 11))
        foot = [math.hypot(o.size[0], o.size[2]) if o.shape == "box" else o.size[0] for o in sc.objects]
        for i in range(len(foot)):
            for j in range(i + 1, len(foot)):
                d = (c[:, i, [0, 2]] - c[:, j, [0, 2]]).norm(dim=-1)
                assert (d > foot[i] + foot[j]).all(), (s, i, j)


# ---------------------------------------------------------------- intersections and exact depth

def test_intersections_closed_form():
    g = torch.Generator().manual_seed(0)
    o = torch.randn(500, 3, generator=g, dtype=torch.float64) * 0.3 + torch.tensor([0, 0, -6.0], dtype=torch.float64)
    d = torch.randn(500, 3, generator=g, dtype=torch.float64) * 0.1 + torch.tensor([0, 0, 1.0], dtype=torch.float64)
    t = intersect_sphere(o, d, 0.8)
    hit = t.isfinite()
    assert 50 < hit.sum() < 500
    torch.testing.assert_close((o + t[:, None] * d)[hit].norm(dim=-1), torch.full((int(hit.sum()),), 0.8, dtype=torch.float64))
    # misses really miss: distance from centre to the ray line exceeds the radius
    dist = torch.cross(o, d / d.norm(dim=-1, keepdim=True), dim=-1).norm(dim=-1)
    assert (dist[~hit] > 0.8 - 1e-9).all() and (dist[hit] <= 0.8 + 1e-9).all()
    tb = intersect_box(o, d, (0.5, 0.3, 0.4))
    pb = (o + tb[:, None] * d)[tb.isfinite()]
    torch.testing.assert_close((pb.abs() / torch.tensor([0.5, 0.3, 0.4], dtype=torch.float64)).amax(-1), torch.ones(len(pb), dtype=torch.float64))
    tc = intersect_cylinder(o, d, 0.4, 0.3)
    pc = (o + tc[:, None] * d)[tc.isfinite()]
    torch.testing.assert_close(torch.maximum(pc[:, [0, 2]].norm(dim=-1) / 0.4, pc[:, 1].abs() / 0.3), torch.ones(len(pc), dtype=torch.float64))
    # the nearest hit: nothing of the box lies on the ray before t (sampled check)
    for s in torch.linspace(0, 0.999, 20, dtype=torch.float64):
        q = o + (s * tb)[:, None] * d
        inside = ((q.abs() / torch.tensor([0.5, 0.3, 0.4], dtype=torch.float64)).amax(-1) < 1 - 1e-9) & tb.isfinite()
        assert not inside.any()


def pixel_rays(clip, t):
    H, W = clip.depth.shape[1:]
    K, c2w = clip.K.double(), clip.c2w[t].double()
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64) + 0.5, torch.arange(W, dtype=torch.float64) + 0.5, indexing="ij")
    d_cam = torch.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1], torch.ones_like(u)], -1)
    return c2w[:3, 3], d_cam @ c2w[:3, :3].T


@pytest.mark.parametrize("kind", ["orbit", "crane", "pan"])
def test_depth_equals_ray_plane_and_ray_sphere(kind):
    s = seed_with(lambda sc: any(o.shape == "sphere" for o in sc.objects), start=200, dynamic=True)
    clip = render_clip(s, num_frames=9, height=48, width=48, camera_path=kind, dynamic=True, shake=True)
    _, c = object_poses(clip.scene, torch.arange(9, dtype=torch.float64) / 8)
    n_floor = n_ball = 0
    for t in range(9):
        o, d = pixel_rays(clip, t)
        floor = clip.segmentation[t] == FLOOR
        want = -o[1] / d[..., 1]
        torch.testing.assert_close(clip.depth[t][floor].double(), want[floor], rtol=1e-4, atol=0)
        n_floor += int(floor.sum())
        for k, obj in enumerate(clip.scene.objects):
            if obj.shape != "sphere":
                continue
            seen = clip.segmentation[t] == 3 + k
            oc = o - c[t, k]
            a, b, cc = (d * d).sum(-1), (d * oc).sum(-1), (oc * oc).sum() - obj.size[0] ** 2
            disc = b * b - a * cc
            assert (disc[seen] >= 0).all()  # every pixel labelled 'ball' does see the ball
            torch.testing.assert_close(clip.depth[t][seen].double(), ((-b - disc.clamp_min(0).sqrt()) / a)[seen], rtol=5e-4, atol=0)
            n_ball += int(seen.sum())
    assert n_floor > 500 and n_ball > 10


@pytest.mark.parametrize("seed", [0, 21, 42])
def test_every_pixel_lies_on_its_surface(seed):
    clip = render_clip(seed, num_frames=9, height=40, width=40, dynamic=True, shake=True)
    res = surface_residual(clip, unproject_depth(clip.depth, clip.K, clip.c2w))
    assert res[clip.segmentation != SKY].abs().max() < 1e-3
    assert res[clip.segmentation == SKY].isnan().all()


# ---------------------------------------------------------------- reprojection and scene flow

def reprojection_error(clip, i, use_flow=False):
    j, (H, W) = i + clip.flow_stride, clip.depth.shape[1:]
    pts = unproject_depth(clip.depth[i], clip.K, clip.c2w[i])
    if use_flow:
        pts = pts + clip.scene_flow[i]
    uv, z = project_points(pts, clip.K, clip.c2w[j])
    grid = torch.stack([2 * uv[..., 0] / W - 1, 2 * uv[..., 1] / H - 1], -1)
    inv = F.grid_sample((1 / clip.depth[j])[None, None], grid[None].float(), align_corners=False)[0, 0]
    return (z * inv - 1).abs(), (grid.abs() < 1).all(-1) & (z > 0)


def translating_seed(start, kinds=("slide", "roll", "bounce")):
    return seed_with(lambda sc: any(o.motion and o.motion.kind in kinds for o in sc.objects), start, dynamic=True)


@pytest.mark.parametrize("stride,start", [(1, 300), (4, 300), (4, 700)])
def test_reprojection_static_matches_moving_needs_flow(stride, start):
    """Static pixels reproject onto the next frame's depth; pixels of a sliding object only after their
    scene flow is added. (Sliding objects: a rolling ball turns its points out of view, a bouncing box
    moves its side faces within their own planes, both legitimately blur this test.)"""
    clip = render_clip(translating_seed(start, ("slide",)), num_frames=17, dynamic=True, shake=1.0, flow_stride=stride)
    sliding = torch.tensor([False] * 3 + [o.motion is not None and o.motion.kind == "slide" for o in clip.scene.objects])
    st, mv0, mv1 = [], [], []
    for i in range(0, 17 - stride, 2):
        e0, inside = reprojection_error(clip, i)
        e1, _ = reprojection_error(clip, i, use_flow=True)
        dyn = sliding[clip.segmentation[i]]
        st.append(e0[inside & ~clip.dynamic_mask[i]]); mv0.append(e0[inside & dyn]); mv1.append(e1[inside & dyn])
    st, mv0, mv1 = torch.cat(st), torch.cat(mv0), torch.cat(mv1)
    gross = [float((x > 0.05).float().mean()) for x in (st, mv0, mv1)]  # share of > 5 % errors (edges, occlusions)
    assert len(mv0) > 100
    assert st.median() < 1e-4 and gross[0] < 0.1
    assert mv1.median() < 1e-4 and gross[2] < 0.2
    assert mv0.median() > 5e-3 and mv0.median() > 100 * mv1.median()
    if stride == 4:
        assert gross[1] > gross[2] + 0.1


def test_scene_flow_is_motion_of_material_points():
    clip = render_clip(translating_seed(400), num_frames=17, dynamic=True, flow_stride=4)
    T = clip.num_frames
    R, c = object_poses(clip.scene, torch.arange(T + 4, dtype=torch.float64) / (T - 1))
    pts = unproject_depth(clip.depth, clip.K, clip.c2w).double()
    moved = pts + clip.scene_flow.double()
    dyn = clip.dynamic_mask
    fr, k = dyn.nonzero()[:, 0], clip.segmentation[dyn] - 3
    before = ((pts[dyn] - c[fr, k])[:, None] @ R[fr, k])[:, 0]
    after = ((moved[dyn] - c[fr + 4, k])[:, None] @ R[fr + 4, k])[:, 0]
    assert (after - before).norm(dim=-1).max() < 1e-3
    assert clip.scene_flow[~dyn].abs().max() == 0
    assert clip.scene_flow[dyn].norm(dim=-1).mean() > 0.05
    # last frames too: the motion is extrapolated past the clip's end
    assert clip.scene_flow[-1][dyn[-1]].norm(dim=-1).mean() > 0.01 or not dyn[-1].any()


def test_sliding_flow_is_constant_velocity():
    s = seed_with(lambda sc: any(o.motion and o.motion.kind == "slide" for o in sc.objects), 500, dynamic=True)
    clip = render_clip(s, num_frames=9, dynamic=True, flow_stride=2)
    for k, o in enumerate(clip.scene.objects):
        if o.motion is None or o.motion.kind != "slide":
            continue
        seen = clip.segmentation == 3 + k
        assert seen.any()
        want = torch.tensor(o.motion.translation, dtype=torch.float32) * 2 / 8
        torch.testing.assert_close(clip.scene_flow[seen], want.expand(int(seen.sum()), 3), atol=1e-5, rtol=0)


# ---------------------------------------------------------------- camera paths, shake, prompt

def test_band_limited_noise_statistics():
    n = band_limited_noise(40000, 3.0, np.random.default_rng(1), channels=2)
    def corr(x, k): return float((x[:-k] * x[k:]).mean() / (x * x).mean())
    assert abs(n.std() - 1) < 0.05
    assert corr(n, 1) > 0.9           # smooth from frame to frame (not white noise)
    assert corr(n[::4], 1) < 0.75     # but decorrelated enough to survive 4x subsampling
    w = band_limited_noise(40000, 0.0, np.random.default_rng(1), channels=2)
    assert abs(corr(w, 1)) < 0.05


@pytest.mark.parametrize("kind,min_ratio", [("orbit", 3.0), ("truck", 100.0), ("dolly", 100.0)])
def test_shake_survives_4x_subsampling(kind, min_ratio):
    """Shake energy measured on every 4th frame (what a latent-space model sees) stays large: the
    second differences of camera centres and the changes of the frame-to-frame rotation on the
    subsampled poses are many times those of the steady camera on the same path. (An orbit's steady
    path itself curves, which is why its ratio is smaller.)"""
    ratios_t, ratios_r = [], []
    for s in range(8):
        steady = render_clip(s, num_frames=33, height=8, width=8, camera_path=kind, shake=False).c2w.double()
        shaky = render_clip(s, num_frames=33, height=8, width=8, camera_path=kind, shake=1.0).c2w.double()
        def jerkiness(c2w):
            sub = c2w[::4]
            acc_t = sub[2:, :3, 3] - 2 * sub[1:-1, :3, 3] + sub[:-2, :3, 3]
            w = matrix_to_axis_angle(sub[:-1, :3, :3].transpose(-1, -2) @ sub[1:, :3, :3])
            return acc_t.norm(dim=-1).pow(2).mean(), (w[1:] - w[:-1]).norm(dim=-1).pow(2).mean()
        (st, sr), (ht, hr) = jerkiness(steady), jerkiness(shaky)
        ratios_t.append(float(ht / st.clamp_min(1e-12))); ratios_r.append(float(hr / sr.clamp_min(1e-12)))
        offset = (shaky[:, :3, 3] - steady[:, :3, 3]).norm(dim=-1)  # a few centimetres, not a tremor nor an earthquake
        assert 0.01 < offset.mean() < 0.3
    assert np.median(ratios_t) > min_ratio and np.median(ratios_r) > 100


def test_camera_paths_move_as_named():
    for kind in CAMERA_PATHS:
        for s in range(6):
            p = sample_camera_path(s, kind)
            c2w = camera_poses(p, 17)
            eye = c2w[:, :3, 3]
            moved = float((eye[-1] - eye[0]).norm())
            turned = float(matrix_to_axis_angle(c2w[0, :3, :3].T @ c2w[-1, :3, :3]).norm())
            if kind == "static":
                assert moved == 0 and turned < 1e-9
            elif kind == "pan":
                assert moved == 0 and turned > 0.25
            else:
                assert moved > 0.5
            if kind == "crane":
                assert abs(float(eye[-1, 1] - eye[0, 1])) > 0.5 and eye[:, 1].min() > 0.5
            assert (eye[:, 0].hypot(eye[:, 2]) > 3.3).all()  # never among the objects


def test_prompt_names_objects_camera_and_motion():
    for s in range(30):
        clip = render_clip(s, num_frames=9, height=16, width=16)
        p = clip.prompt.lower()
        for o in clip.scene.objects:
            assert o.colour in p and SHAPE_NOUNS[o.shape][0][:4] in p
        assert ("handheld" in p) == clip.shake.handheld and ("steady" in p) != clip.shake.handheld
        assert {"orbit": "orbits", "dolly": "dollies", "pan": "pans", "truck": "trucks", "crane": "cranes",
                "static": "static"}[clip.camera.kind] in p
        for o in clip.scene.objects:
            if o.motion is not None:
                assert {"slide": "slides", "roll": "rolls", "spin": "spins", "bounce": "bounces"}[o.motion.kind] in p


@pytest.mark.parametrize("kind", ["orbit", "pan", "truck"])
def test_prompt_left_right_matches_the_picture(kind):
    "'... to the right' means the scene drifts left in the image, as a viewer would say."
    for s in range(8):
        clip = render_clip(s, num_frames=9, height=16, width=16, camera_path=kind, shake=False)
        eye0, target = clip.c2w[0, :3, 3], torch.tensor([0.0, clip.camera.target_height, 0.0])
        point = (eye0 + target) / 2  # half-way to the target: an orbit moves it too
        uv, _ = project_points(point.expand(9, 3), clip.K, clip.c2w)
        drift = float(uv[-1, 0] - uv[0, 0])
        assert ("right" in clip.prompt) == (drift < 0), (s, clip.prompt, drift)


# ---------------------------------------------------------------- data sets, shards, devices, benchmark

def test_splits_never_overlap():
    r = {k: split_seeds(k) for k in SPLITS}
    names = list(r)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = r[names[i]], r[names[j]]
            assert a.stop <= b.start or b.stop <= a.start
    assert len(r["train"]) >= 100_000 and len(r["test"]) >= 1000
    with pytest.raises(ValueError, match="split must be one of"):
        split_seeds("dev")
    with pytest.raises(ValueError, match="size must be"):
        split_seeds("test", 10**9)


def test_dataset_items_and_collate():
    ds = WorldDataset("test", size=3, num_frames=5, height=16, width=16, flow_stride=4)
    assert len(ds) == 3 and ds.seeds[0] == SPLITS["test"][0]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3)))
    assert batch["rgb"].shape == (3, 3, 5, 16, 16) and batch["scene_flow"].shape == (3, 5, 16, 16, 3)
    assert len(batch["prompt"]) == 3 and batch["seed"].tolist() == list(ds.seeds)
    torch.testing.assert_close(batch["depth"][1], render_clip(ds.seeds[1], num_frames=5, height=16, width=16).depth)


def test_shard_round_trip(tmp_path):
    seeds = split_seeds("validation", 3)
    path = prerender_shard(tmp_path / "s.safetensors", seeds, num_frames=5, height=16, width=24, dynamic=True, flow_stride=4)
    clips = load_shard(path)
    assert [c.seed for c in clips] == list(seeds)
    for c in clips:
        fresh = render_clip(c.seed, num_frames=5, height=16, width=24, dynamic=True, flow_stride=4)
        assert c.prompt == fresh.prompt and c.scene == fresh.scene and c.camera == fresh.camera and c.shake == fresh.shake
        assert (c.rgb - fresh.rgb).abs().max() <= 1 / 255 + 1e-6
        assert torch.equal(c.depth, fresh.depth) and torch.equal(c.c2w, fresh.c2w) and torch.equal(c.segmentation, fresh.segmentation)
        assert torch.equal(c.dynamic_mask, fresh.dynamic_mask)
        torch.testing.assert_close(c.scene_flow, fresh.scene_flow, atol=2e-3, rtol=1e-3)
    ds = ShardDataset([path])
    assert len(ds) == 3 and ds[0]["rgb"].shape == (3, 5, 16, 24)
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(bad))
    with pytest.raises(ValueError, match="not a vggrpo.worlds shard"):
        load_shard(bad)


def test_prerender_split(tmp_path):
    paths = prerender_split(tmp_path, "validation", size=3, shard_size=2, num_frames=3, height=8, width=8)
    assert [p.name for p in paths] == ["validation-00000.safetensors", "validation-00001.safetensors"]
    assert [c["seed"] for c in ShardDataset(paths)] == list(split_seeds("validation", 3))
    with pytest.raises(ValueError, match="shard_size"):
        prerender_split(tmp_path, "validation", size=3, shard_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    a, b = render_clip(3, num_frames=9), render_clip(3, num_frames=9, device="cuda")
    assert b.rgb.device.type == "cuda"
    assert (a.segmentation == b.segmentation.cpu()).float().mean() > 0.999
    same = a.segmentation == b.segmentation.cpu()
    torch.testing.assert_close(a.depth[same], b.depth.cpu()[same], rtol=1e-3, atol=1e-3)


def test_benchmark_writes_json(tmp_path):
    out, before = tmp_path / "bench.json", torch.get_num_threads()
    r = benchmark_renderer(sizes=((3, 16, 16),), clips=2, threads=2, path=out)
    assert torch.get_num_threads() == before
    saved = json.loads(out.read_text())
    assert saved["cpu_2_threads"]["results"][0]["frames"] == 3 and r["results"][0]["clips_per_s"] > 0
