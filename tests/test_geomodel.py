"Tests of vggrpo.geomodel as a user imports it: shapes, the stitching interface, bad input, targets, losses, save/load, shipped weights."
import json
import math

import pytest
import torch

from vggrpo.geometry import make_pose, axis_angle_to_matrix
from vggrpo.geomodel import _pair_angles
from vggrpo.geomodel import (CAMERA_LOSS, DEFAULT_WEIGHTS, GeometryModel, GeometryModelOutput, TrainingStream, camera_loss, clip_batch,
                             clip_metrics, evaluate_geomodel, flow_loss, with_ground_truth, geomodel_argument_parser, geometry_loss, normalize_targets, refine_cameras,
                             render_training_batch, save_geomodel, train_geomodel_cli, train_geomodel_options, training_camera_path)
from vggrpo.worlds import CAMERA_PATHS, render_clip, sample_camera_path, split_seeds

TINY = dict(hidden_size=32, num_layers=4, num_heads=2, head_channels=16, camera_depth=1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return GeometryModel(**TINY).eval()


@pytest.fixture(scope="module")
def batch():
    return clip_batch([render_clip(s, 33, 64, 64, flow_stride=4) for s in (3, 8)])


def test_output_shapes(tiny):
    video = torch.rand(2, 3, 5, 64, 64) * 2 - 1
    with torch.no_grad(): out = tiny(video)
    assert out.pose_enc.shape == (2, 5, 9) and len(out.pose_enc_list) == tiny.config.camera_iterations
    assert out.c2w.shape == (2, 5, 4, 4) and out.K.shape == (2, 5, 3, 3)
    assert out.depth.shape == out.depth_conf.shape == out.points_conf.shape == (2, 5, 64, 64)
    assert out.points.shape == out.scene_flow.shape == (2, 5, 64, 64, 3)
    assert (out.depth > 0).all() and (out.depth_conf >= 1).all() and (out.points_conf >= 1).all()


def test_other_image_size(tiny):
    with torch.no_grad(): out = tiny(torch.zeros(1, 3, 3, 48, 80))
    assert out.depth.shape == (1, 3, 48, 80)
    assert out.K[0, 0, 0, 2].item() == pytest.approx(40.0)  # principal point at W / 2


@pytest.mark.parametrize("k", [0, 1, 2, 4])
def test_stitching_identity(tiny, k):
    video = torch.rand(1, 3, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        full = tiny(video)
        tokens = tiny.tokens_at(video, k)
        assert tokens.shape == (1, 4, tiny.num_special_tokens + 64, TINY["hidden_size"])
        stitched = tiny.heads(tiny.run_blocks(tokens, k))
    for name in ("pose_enc", "depth", "points", "scene_flow"):
        torch.testing.assert_close(getattr(stitched, name), getattr(full, name), atol=1e-5, rtol=1e-5)


def test_special_tokens(tiny):
    special = tiny.special_tokens(2, 3)
    assert special.shape == (2, 3, 1 + tiny.config.num_register_tokens, TINY["hidden_size"])
    assert not torch.allclose(special[:, 0], special[:, 1])  # the reference frame has its own tokens
    torch.testing.assert_close(special[:, 1], special[:, 2])
    s, p = tiny.split_tokens(tiny.embed(torch.zeros(1, 3, 2, 64, 64)))
    assert s.shape[2] == tiny.num_special_tokens and p.shape[2] == 64


def test_frames_are_ordered(tiny):
    "The frame-index embedding makes the model see frame order (needed for flow to the next frame)."
    video = torch.rand(1, 3, 4, 64, 64) * 2 - 1
    with torch.no_grad():
        a = tiny.tokens_at(video, 2)
        b = tiny.tokens_at(video[:, :, [0, 2, 1, 3]], 2)
    assert not torch.allclose(a[:, 1], b[:, 2], atol=1e-4)


def test_bad_input(tiny):
    with pytest.raises(TypeError, match="torch.Tensor"): tiny(torch.zeros(1, 3, 2, 64, 64).numpy())
    with pytest.raises(TypeError, match="floating"): tiny(torch.zeros(1, 3, 2, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"): tiny(torch.zeros(1, 16, 2, 8, 8))
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"): tiny(torch.zeros(3, 2, 64, 64))
    with pytest.raises(ValueError, match="multiples of patch_size"): tiny(torch.zeros(1, 3, 2, 63, 64))
    with pytest.raises(ValueError, match="frames"): tiny(torch.zeros(1, 3, 17, 64, 64))
    tokens = tiny.embed(torch.zeros(1, 3, 2, 64, 64))
    with pytest.raises(ValueError, match="start"): tiny.run_blocks(tokens, 3, 2)
    with pytest.raises(ValueError, match="start"): tiny.run_blocks(tokens, 0, 9)
    with pytest.raises(ValueError, match="tokens must have shape"): tiny.run_blocks(tokens[..., :8])
    with pytest.raises(ValueError, match="tokens per frame"): tiny.heads(tokens[:, :, :-1])
    with pytest.raises(ValueError, match="flow_stride"): clip_batch([render_clip(1, 9, 16, 16)])


def test_targets_first_camera_and_scale(batch):
    gt = normalize_targets(batch)
    identity = torch.tensor([0.0, 0, 0, 0, 0, 0, 1])
    torch.testing.assert_close(gt["pose_enc"][:, 0, :7], identity.expand(2, 7), atol=1e-5, rtol=0)
    v = gt["valid"]
    mean_dist = (gt["points"].norm(dim=-1) * v).flatten(1).sum(1) / v.flatten(1).sum(1)
    torch.testing.assert_close(mean_dist, torch.ones(2), atol=1e-4, rtol=0)


def test_targets_invariant_to_world_frame_and_scale(batch):
    "A similarity transform of the world (metres -> other units, any origin) leaves the normalised targets unchanged."
    R = axis_angle_to_matrix(torch.tensor([0.3, -1.1, 0.5]))
    G = make_pose(R, torch.tensor([4.0, -2.0, 7.0]))
    lam = 3.5
    moved = dict(batch)
    c2w = G @ batch["c2w"]
    c2w[..., :3, 3] *= lam
    moved["c2w"], moved["depth"] = c2w, batch["depth"] * lam
    moved["scene_flow"] = torch.einsum("ij,bthwj->bthwi", R, batch["scene_flow"]) * lam
    a, b = normalize_targets(batch), normalize_targets(moved)
    for k in ("pose_enc", "depth", "points", "scene_flow"):
        torch.testing.assert_close(a[k], b[k], atol=2e-4, rtol=1e-3)


def _perfect(batch):
    gt = normalize_targets(batch)
    T = gt["depth"].shape[1]
    ones = torch.ones_like(gt["depth"])
    return gt, GeometryModelOutput(pose_enc=gt["pose_enc"], pose_enc_list=[gt["pose_enc"]], c2w=gt["c2w"],
                                   K=batch["K"][:, None].expand(-1, T, -1, -1), depth=gt["depth"], depth_conf=ones,
                                   points=gt["points"], points_conf=ones, scene_flow=gt["scene_flow"])


def test_loss_zero_for_perfect_prediction(batch):
    gt, out = _perfect(batch)
    out.depth_conf = out.depth_conf.masked_fill(~gt["valid"], 1.0)
    terms = geometry_loss(out, gt)
    for k in ("camera", "depth", "points", "flow", "sky"): assert terms[k].item() == pytest.approx(0.0, abs=1e-5), k
    worse = geometry_loss(GeometryModelOutput(**{**out, "depth": out.depth * 1.2}), gt)
    assert worse["depth"] > 0.01


def test_flow_loss_has_no_kink_at_zero():
    "A zero prediction must still get a gradient from moving pixels (a plain EPE traps a zero-initialised head)."
    target = torch.zeros(1, 1, 4, 4, 3); target[0, 0, :2, :2] = torch.tensor([0.05, 0.0, 0.0])
    dyn = target.norm(dim=-1) > 0
    pred = torch.zeros_like(target, requires_grad=True)
    flow_loss(pred, target, torch.ones_like(dyn), dyn).backward()
    assert (pred.grad[0, 0, :2, :2, 0] < 0).all() and pred.grad[0, 0, 2:].abs().max() == 0


def test_all_heads_get_gradients(tiny, batch):
    model = GeometryModel(**TINY)
    terms = geometry_loss(model(batch["video"]), normalize_targets(batch))
    terms["loss"].backward()
    for name in ("patch_embed.weight", "blocks.0.attn.qkv.weight", "camera_head.out.2.weight", "depth_head.out.weight",
                 "point_head.out.weight", "flow_head.out.weight", "flow_head.out.bias"):
        g = dict(model.named_parameters())[name].grad
        assert g is not None and g.abs().sum() > 0, name


def test_metrics_zero_for_perfect_prediction(batch):
    _, out = _perfect(batch)
    for row in clip_metrics(out, batch):
        for k in ("depth_absrel", "rotation_error_deg", "ate_m", "fov_error_deg", "flow_epe_static_m"):
            assert row[k] == pytest.approx(0.0, abs=1e-3), k
        if row["dynamic_pixels"]: assert row["flow_epe_m"] == pytest.approx(0.0, abs=1e-4) and row["flow_epe_zero_m"] > 0


def test_save_load_roundtrip(tiny, tmp_path):
    save_geomodel(tiny, tmp_path / "m")
    assert (tmp_path / "m" / "config.json").exists()
    loaded = GeometryModel.from_pretrained(tmp_path / "m")
    assert loaded.dtype == torch.float32 and loaded.config.hidden_size == TINY["hidden_size"]
    video = torch.rand(1, 3, 3, 64, 64) * 2 - 1
    with torch.no_grad(): torch.testing.assert_close(loaded(video).depth, tiny(video).depth, atol=0.05, rtol=0.05)
    assert tiny.dtype == torch.float32  # saving in float16 leaves the model as it was
    with pytest.raises(FileNotFoundError, match="config.json"): GeometryModel.from_pretrained(tmp_path / "nothing")


def test_shipped_weights_offline():
    assert (DEFAULT_WEIGHTS / "config.json").exists()
    size = sum(p.stat().st_size for p in DEFAULT_WEIGHTS.iterdir())
    assert size < 20e6, size
    phi = GeometryModel.from_pretrained()
    clips = [render_clip(s, 33, 64, 64, flow_stride=4) for s in split_seeds("test", 3)]
    b = clip_batch(clips)
    with torch.no_grad(): rows = clip_metrics(phi(b["video"]), b)
    assert max(r["depth_absrel"] for r in rows) < 0.2, rows
    assert all(r["fov_error_deg"] < 10 for r in rows), rows


def test_cli_tiny_run(tmp_path):
    m = train_geomodel_cli(["--output-dir", str(tmp_path), "--steps", "2", "--batch-size", "2", "--pool-size", "2", "--refresh", "0",
                            "--eval-clips", "2", "--device", "cpu", "--config", json.dumps(TINY)])
    assert {p.name for p in tmp_path.iterdir()} >= {"config.json", "diffusion_pytorch_model.safetensors", "metrics.json", "train_log.json"}
    assert m["summary"]["all"]["clips"] == 2 and math.isfinite(m["summary"]["all"]["depth_absrel"])


def test_frame_stride_renders_the_full_clip_sliced():
    "render_clip(frame_stride=4) renders only frames 0, 4, 8: bit for bit the full render sliced."
    full = render_clip(5, 9, 16, 16, flow_stride=4)
    part = render_clip(5, 9, 16, 16, flow_stride=4, frame_stride=4)
    assert part.frame_stride == 4 and part.rgb.shape == (3, 3, 16, 16)
    assert torch.equal(part.rgb, full.rgb[:, ::4])
    for k in ("depth", "scene_flow", "c2w", "segmentation", "dynamic_mask"): assert torch.equal(getattr(part, k), getattr(full, k)[::4]), k
    assert part.prompt == full.prompt


def test_clip_batch_of_strided_clips():
    full = clip_batch([render_clip(s, 9, 16, 16, flow_stride=4) for s in (5, 6)])
    part = clip_batch([render_clip(s, 9, 16, 16, flow_stride=4, frame_stride=4) for s in (5, 6)])
    rendered = render_training_batch([5, 6], num_frames=9, image_size=16)
    assert full.keys() == part.keys() == rendered.keys()
    for k in full: assert torch.equal(part[k], full[k]) and torch.equal(rendered[k], full[k]), k


def test_frame_stride_bad_input():
    for bad in (0, -4, 1.5, True):
        with pytest.raises(ValueError, match="frame_stride must be an int >= 1"): render_clip(1, 9, 16, 16, frame_stride=bad)
    with pytest.raises(ValueError, match="frame_stride 3"): clip_batch([render_clip(1, 9, 16, 16, flow_stride=4, frame_stride=3)])
    mixed = [render_clip(1, 9, 16, 16, flow_stride=4), render_clip(2, 9, 16, 16, flow_stride=4, frame_stride=4)]
    with pytest.raises(ValueError, match="frame_stride"): clip_batch(mixed)


def test_training_stream_in_order_and_disjoint_across_workers():
    stream = TrainingStream(range(20, 28), batch_size=2, num_frames=9, image_size=16)
    by_one = list(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=0))
    assert len(by_one) == 4
    assert by_one[0]["video"].shape == (2, 3, 3, 16, 16) and by_one[0]["scene_flow"].shape == (2, 3, 16, 16, 3)
    assert by_one[0]["c2w"].shape == (2, 3, 4, 4) and by_one[0]["K"].shape == (2, 3, 3)
    assert torch.equal(by_one[2]["video"], render_training_batch([24, 25], num_frames=9, image_size=16)["video"])
    by_two = list(torch.utils.data.DataLoader(stream, batch_size=None, num_workers=2))
    assert len(by_two) == 4
    for a, b in zip(by_one, by_two): assert torch.equal(a["video"], b["video"])  # the same batches in the same order
    assert all(not torch.equal(by_two[i]["video"], by_two[j]["video"]) for i in range(4) for j in range(i))  # each world once


def test_training_stream_bad_input():
    with pytest.raises(ValueError, match="batch_size"): TrainingStream(range(3), batch_size=4)
    with pytest.raises(ValueError, match="batch_size"): TrainingStream(range(8), batch_size=0)


def test_camera_loss_defaults_have_one_source(batch):
    "geometry_loss without options uses camera_loss's own defaults; CAMERA_LOSS lists them all."
    gt, out = _perfect(batch)
    noisy = [p + 0.05 * torch.randn_like(p) for p in out.pose_enc_list]
    out = GeometryModelOutput(**{**out, "pose_enc_list": noisy})
    assert geometry_loss(out, gt)["camera"].item() == pytest.approx(camera_loss(noisy, gt["pose_enc"]).item(), rel=1e-6)
    legacy = geometry_loss(out, gt, camera={"legacy": True})["camera"].item()
    assert legacy == pytest.approx(camera_loss(noisy, gt["pose_enc"], legacy=True).item(), rel=1e-6)
    assert CAMERA_LOSS["legacy"] is False and {"gamma", "min_baseline", "direction"} <= set(CAMERA_LOSS)


def test_camera_loss_fov_weight_scales_the_field_of_view_term_only(batch):
    "Only the field of view off by 0.1 rad: the loss is fov x 0.1 per camera-head iteration (weighted by gamma); other errors ignore it."
    gt, _ = _perfect(batch)
    target = gt["pose_enc"]
    off = torch.cat([target[..., :7], target[..., 7:] + 0.1], -1)
    gammas = sum(0.6 ** k for k in range(2))
    for w in (0.5, 25.0):
        assert camera_loss([off, off], target, fov=w).item() == pytest.approx(w * 0.1 * gammas, rel=1e-4)
    moved = torch.cat([target[..., :3] + 0.05, target[..., 3:]], -1)
    assert camera_loss([moved], target, fov=25.0).item() == camera_loss([moved], target).item() > 0


def test_argument_parser_defaults_and_options(capsys):
    a = geomodel_argument_parser(pool_time=90, refresh=1).parse_args(["--workers", "3", "--camera-loss", '{"legacy": true}'])
    options = train_geomodel_options(a)
    assert (options["pool_time"], options["refresh"], options["workers"]) == (90, 1, 3)
    assert options["camera_loss_options"] == {"legacy": True} and options["loss_weights"] is None and options["config"] is None
    assert options["path_weights"] is None
    assert train_geomodel_options(geomodel_argument_parser().parse_args(["--path-weights", '{"orbit": 3}']))["path_weights"] == {"orbit": 3}
    for flag, text, message in (("--loss-weights", "{camera: 2}", "not valid JSON"), ("--config", "[8]", "must be a JSON dict")):
        with pytest.raises(SystemExit) as stop:
            geomodel_argument_parser().parse_args([flag, text])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err


def test_path_weights_oversample_a_move_and_keep_the_rest_of_the_world():
    kinds = [training_camera_path(s, {"orbit": 5}) for s in range(600)]
    assert 0.5 < kinds.count("orbit") / len(kinds) < 0.75  # 5 / 10
    assert all(training_camera_path(s) is None for s in range(5))  # no weights: the world's own path
    only_truck = {k: float(k == "truck") for k in CAMERA_PATHS}
    b = render_training_batch([7, 9], num_frames=9, image_size=16, path_weights=only_truck)
    for i, s in enumerate((7, 9)):
        clip = render_clip(s, 9, 16, 16, camera_path="truck", flow_stride=4, frame_stride=4)
        assert torch.equal(b["c2w"][i], clip.c2w) and torch.equal(b["video"][i], clip.rgb)
        assert sample_camera_path(s, "truck").radius == sample_camera_path(s).radius  # the same world, only the kind of move forced


def test_path_weights_bad_input():
    for bad, match in (({"circle": 1}, "keys from"), ({"orbit": -1.0}, "non-negative"), ({k: 0 for k in CAMERA_PATHS}, "not all zero"),
                       ("orbit", "keys from")):
        with pytest.raises(ValueError, match=match): training_camera_path(0, bad)
    with pytest.raises(ValueError, match="finite"): TrainingStream(range(8), batch_size=2, path_weights={"pan": float("inf")})


def test_cli_tiny_stream_run(tmp_path):
    "--workers: a stream of fresh clips from a CPU DataLoader worker instead of a pool."
    m = train_geomodel_cli(["--output-dir", str(tmp_path), "--steps", "2", "--batch-size", "2", "--workers", "1", "--eval-clips", "2",
                            "--device", "cpu", "--config", json.dumps(TINY)])
    assert (tmp_path / "config.json").exists() and m["summary"]["all"]["clips"] == 2



def _pair_rotation_error(c2w, true_c2w):
    "Mean relative-rotation error (degrees) over the frame pairs of a clip [T, 4, 4], as Φ's metric computes it."
    return _pair_angles(c2w.double(), true_c2w.double(), 0.02)[0].mean().item()


def test_refine_cameras_true_geometry_is_a_fixed_point_and_turned_cameras_come_back(batch):
    "From the true cameras the photometric refinement stays put; from cameras turned by about 2 degrees it comes back."
    gt, out = _perfect(batch)
    kept = refine_cameras(batch["video"], out)
    assert max(_pair_rotation_error(kept.c2w[b], gt["c2w"][b]) for b in range(2)) < 0.15  # bilinear sampling of 64 x 64 frames
    g = torch.Generator().manual_seed(0)
    turned = gt["c2w"].clone()
    turned[:, 1:, :3, :3] = turned[:, 1:, :3, :3] @ axis_angle_to_matrix(torch.randn(2, turned.shape[1] - 1, 3, generator=g) * math.radians(1.2))
    start = GeometryModelOutput(**{**dict(out), "c2w": turned})
    back = refine_cameras(batch["video"], start)
    for b in range(2):
        assert _pair_rotation_error(back.c2w[b], gt["c2w"][b]) < 0.3 * _pair_rotation_error(turned[b], gt["c2w"][b])
    wrong_depth = out.depth.clone(); wrong_depth[:, 1:] *= 1.15  # later frames' depth off by 15 %: depth_affine absorbs it
    affine = refine_cameras(batch["video"], GeometryModelOutput(**{**dict(start), "depth": wrong_depth}), depth_affine=True)
    assert torch.equal(affine.depth, wrong_depth)  # the output keeps the depth it was given
    for b in range(2):
        assert _pair_rotation_error(affine.c2w[b], gt["c2w"][b]) < 0.3 * _pair_rotation_error(turned[b], gt["c2w"][b])
    assert torch.equal(back.c2w[:, 0], turned[:, 0])  # the first camera is the frame of reference
    assert torch.allclose(back.pose_enc[..., 7:], out.pose_enc[..., 7:].float()) and torch.allclose(back.K, out.K.float())  # FoV kept


def test_refine_cameras_depth_grid_absorbs_a_smooth_depth_error(batch):
    "Depth off by a smooth left-to-right ramp (5-25 %, different per frame): depth_grid refines it away and the turned cameras come back."
    gt, out = _perfect(batch)
    g = torch.Generator().manual_seed(1)
    turned = gt["c2w"].clone()
    turned[:, 1:, :3, :3] = turned[:, 1:, :3, :3] @ axis_angle_to_matrix(torch.randn(2, turned.shape[1] - 1, 3, generator=g) * math.radians(1.2))
    T, W = out.depth.shape[1], out.depth.shape[-1]
    ramp = 1 + (0.05 + 0.2 * torch.rand(1, T, 1, 1, generator=g)) * torch.linspace(-1, 1, W)  # [1, T, 1, W]
    wrong = GeometryModelOutput(**{**dict(out), "c2w": turned, "depth": out.depth * ramp})
    res = refine_cameras(batch["video"], wrong, depth_affine=False, depth_grid=4)
    assert torch.equal(res.depth, wrong.depth)  # the output keeps the depth it was given
    for b in range(2):
        assert _pair_rotation_error(res.c2w[b], gt["c2w"][b]) < 0.3 * _pair_rotation_error(turned[b], gt["c2w"][b])
    for bad in (-1, 2.5):
        with pytest.raises(ValueError, match="depth_grid"): refine_cameras(batch["video"], out, depth_grid=bad)


def test_with_ground_truth_replaces_the_fields_it_names(batch):
    gt, perfect = _perfect(batch)
    T = perfect.depth.shape[1]
    off = GeometryModelOutput(**{**dict(perfect), "depth": perfect.depth * 1.3,
                                 "K": perfect.K * torch.tensor([[1.2, 1, 1], [1, 1.2, 1], [1, 1, 1]]),
                                 "pose_enc": torch.cat([perfect.pose_enc[..., :7], perfect.pose_enc[..., 7:] * 0.8], -1)})
    rows = clip_metrics(off, batch)
    assert all(r["fov_error_deg"] > 1 and r["depth_absrel"] < 1e-4 for r in rows)  # median scaling forgives a global depth factor
    off = GeometryModelOutput(**{**dict(off), "depth": off.depth * torch.linspace(0.7, 1.3, T)[None, :, None, None]})
    assert all(r["depth_absrel"] > 0.05 for r in clip_metrics(off, batch))
    k_only = with_ground_truth(off, batch, ("K",))
    assert torch.equal(k_only.depth, off.depth) and all(r["fov_error_deg"] < 1e-4 for r in clip_metrics(k_only, batch))
    both = with_ground_truth(off, batch, ("K", "depth"))
    assert all(r["fov_error_deg"] < 1e-4 and r["depth_absrel"] < 1e-5 for r in clip_metrics(both, batch))
    assert torch.equal(both.c2w, off.c2w)  # the cameras are still the prediction's
    with pytest.raises(ValueError, match="among"): with_ground_truth(off, batch, ("focal",))


def _focal_times(out, factor):
    "`out` with its focal lengths multiplied by `factor` (K and the field of view of the pose encoding alike; 64 x 64 frames)."
    K = out.K * torch.tensor([[factor, 1, 1], [1, factor, 1], [1, 1, 1]])
    fov = 2 * torch.atan(32 / K[..., 0, 0])
    return GeometryModelOutput(**{**dict(out), "K": K, "pose_enc": torch.cat([out.pose_enc[..., :7], torch.stack([fov, fov], -1)], -1)})


def test_refine_cameras_focal_option_scales_the_focal_length_only(batch):
    _, out = _perfect(batch)
    out = _focal_times(out, 1.1)  # a wrong focal
    res = refine_cameras(batch["video"], out, levels=((1.0, 10),), focal=True)
    ratio = res.K[..., 0, 0] / out.K[..., 0, 0]
    assert torch.allclose(ratio, res.K[..., 1, 1] / out.K[..., 1, 1]) and torch.allclose(ratio, ratio[:, :1].expand_as(ratio))
    assert torch.equal(res.K[..., :2, 2], out.K[..., :2, 2].float()) and (ratio != 1).all()  # principal point kept, focal moved


def test_refine_cameras_focal_gate_refines_only_cameras_that_turn(batch):
    "focal=8 (degrees): the pan (about 20 degrees of turn) finds its focal length again, the static camera keeps the one it was given."
    gt, out = _perfect(batch)
    assert [sample_camera_path(c).kind for c in (3, 8)] == ["static", "pan"]  # the clips of the batch fixture
    out = _focal_times(out, 1.1)  # focal 10 % long
    res = refine_cameras(batch["video"], out, focal=8.0)
    assert torch.allclose(res.K[0], out.K[0].float()) and torch.allclose(res.pose_enc[0, :, 7:], out.pose_enc[0, :, 7:].float())
    assert abs(res.K[1, 0, 0, 0] / batch["K"][1, 0, 0] - 1) < 0.03  # 10 % off before
    assert torch.allclose(refine_cameras(batch["video"], out, levels=((1.0, 2),), focal=90.0).K, out.K.float())  # nothing turns 90 degrees
    for bad in (-1, "8"):
        with pytest.raises(ValueError, match="focal"): refine_cameras(batch["video"], out, focal=bad)


def test_refine_cameras_shared_fov_uses_one_lens_per_clip(batch):
    "Φ-like intrinsics that drift over the frames (field of view +-3 % about the truth): shared_fov refines with one field of view, their mean."
    gt, out = _perfect(batch)
    T = out.K.shape[1]
    drift = torch.linspace(0.97, 1.03, T)  # focal factors
    K = out.K.clone(); K[..., 0, 0] *= drift; K[..., 1, 1] *= drift
    fov = 2 * torch.atan(32 / K[..., 0, 0])  # 64 x 64 frames
    drifting = GeometryModelOutput(**{**dict(out), "K": K, "pose_enc": torch.cat([out.pose_enc[..., :7], torch.stack([fov, fov], -1)], -1)})
    res = refine_cameras(batch["video"], drifting, levels=((1.0, 2),), shared_fov=True)
    assert torch.allclose(res.pose_enc[..., 7:], fov.mean(1)[:, None, None].expand(-1, T, 2), atol=1e-6)  # the mean, on every frame
    assert torch.allclose(res.K, res.K[:, :1].expand_as(res.K)) and torch.equal(res.K[..., :2, 2], K[..., :2, 2])
    kept = refine_cameras(batch["video"], drifting, levels=((1.0, 2),), shared_fov=False)
    assert torch.equal(kept.K, K) and torch.equal(kept.pose_enc[..., 7:], drifting.pose_enc[..., 7:])  # off: Φ's own, frame by frame


def test_refine_cameras_bad_input(batch):
    _, out = _perfect(batch)
    with pytest.raises(ValueError, match="does not match"): refine_cameras(batch["video"][:, :, :3], out)
    with pytest.raises(ValueError, match=r"\[B, 3, T, H, W\]"): refine_cameras(batch["video"][:, 0], out)
    with pytest.raises(ValueError, match="NaN"): refine_cameras(batch["video"].clone().fill_(float("nan")), out)


def test_evaluate_geomodel_with_refinement_keeps_depth(tiny):
    plain = evaluate_geomodel(tiny, "test", 1, refine=None)["clips"][0]
    refined = evaluate_geomodel(tiny, "test", 1, refine=dict(levels=((0.0, 2),)))["clips"][0]
    assert plain["seed"] == refined["seed"] and plain["depth_absrel"] == refined["depth_absrel"]
    assert plain["rotation_error_deg"] != refined["rotation_error_deg"]


def test_evaluate_geomodel_oracle(tiny):
    plain = evaluate_geomodel(tiny, "test", 1)["clips"][0]
    oracle = evaluate_geomodel(tiny, "test", 1, oracle=("K",))["clips"][0]
    assert plain["fov_error_deg"] > 0.1 and oracle["fov_error_deg"] < 1e-4 and oracle["depth_absrel"] == plain["depth_absrel"]


def test_refine_cameras_script_variants(tmp_path):
    "nbs/scripts/05_refine_cameras.py on one validation clip with two short variants (one an oracle); a bad variants dict is refused."
    import os, subprocess, sys
    script = os.path.join(os.path.dirname(__file__), "..", "nbs", "scripts", "05_refine_cameras.py")
    variants = {"short": {"levels": [[0, 2]]}, "short_true_K": {"levels": [[0, 2]], "oracle": ["K"]}}
    out = tmp_path / "refine.json"
    env = {**os.environ, "GEOMODEL": str(DEFAULT_WEIGHTS)}  # a folder of weights, here the shipped ones
    result = subprocess.run([sys.executable, script, str(out), "1", json.dumps(variants), "validation"], capture_output=True, text=True,
                            timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(out.read_text())
    assert run["split"] == "validation" and run["weights"] == str(DEFAULT_WEIGHTS) and set(run) >= {"feed_forward", "short", "short_true_K"}
    assert run["short"]["options"] == variants["short"] and run["short"]["clips"][0]["seed"] == split_seeds("validation", 1)[0]
    assert run["short_true_K"]["summary"]["all"]["fov_error_deg"] < 1e-4 < run["short"]["summary"]["all"]["fov_error_deg"]
    bad = subprocess.run([sys.executable, script, str(tmp_path / "x.json"), "1", '{"feed_forward": {}}'], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "VARIANTS_JSON" in bad.stderr and not (tmp_path / "x.json").exists()


def test_direction_observability_script_is_exact_without_noise(tmp_path):
    "nbs/scripts/05_direction_observability.py on 2 test clips: both estimators recover every direction exactly from noise-free correspondences."
    import os, subprocess, sys
    script = os.path.join(os.path.dirname(__file__), "..", "nbs", "scripts", "05_direction_observability.py")
    result = subprocess.run([sys.executable, script, str(tmp_path / "obs.json"), "2"], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "WORKERS": "2", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    obs = json.loads((tmp_path / "obs.json").read_text())
    pairs = [p for c in obs["clips"] for p in c["pairs"]]
    assert pairs and all(p["error_deg"]["0.0"] < 1e-3 and p["two_view_error_deg"]["0.0"] < 1e-3 for p in pairs)
    assert all(p["two_view_rotation_error_deg"]["0.0"] < 1e-3 and p["parallax_px"] > 0 for p in pairs)
    noisy = [p["error_deg"]["0.5"] for p in pairs]
    assert sum(noisy) / len(noisy) > sum(p["error_deg"]["0.05"] for p in pairs) / len(pairs)  # more noise, larger errors
