"Tests of vggrpo.lgm as a user imports it: input checks, least squares, exact stitching, training modes, shipped weights."
import pytest
import torch
import torch.nn as nn

from vggrpo.geomodel import GeometryModel
from vggrpo.worlds import split_seeds
from vggrpo.lgm import (LatentConnector, LatentGeometryModel, NormalEquations, check_latents, least_squares_stitch,
                        lora_target_modules, output_agreement, phi_tokens_at, teacher_loss, train_stitching, train_lgm_cli,
                        unfold_latents)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def phi():
    torch.manual_seed(0)
    return GeometryModel(hidden_size=32, num_layers=4, num_heads=2, head_channels=16, camera_depth=1, layer_scale=0.3).eval()


@pytest.fixture(scope="module")
def video():
    return torch.rand(2, 3, 9, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1


# ------------------------------------------------------------------ input checks
@pytest.mark.parametrize("shape,message", [((2, 3, 9, 8, 8), "16 channels"), ((2, 16, 10, 8, 8), "1..9 latent frames"),
                                           ((2, 16, 9, 16, 16), "(8, 8)"), ((16, 9, 8, 8), "5 dims")])
def test_bad_latents_are_clear_errors(phi, shape, message):
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        lgm(torch.zeros(shape))


def test_non_tensor_and_integer_latents(phi):
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    with pytest.raises(TypeError, match="torch.Tensor"): lgm([[0.0]])
    with pytest.raises(TypeError, match="floating"): check_latents(torch.zeros(1, 16, 9, 8, 8, dtype=torch.int64))


def test_stitch_layer_out_of_range(phi):
    with pytest.raises(ValueError, match="stitch_layer"): LatentGeometryModel.from_geomodel(phi, 5)


# ------------------------------------------------------------------ least squares
def test_unfold_is_the_conv_design_matrix():
    z = torch.randn(1, 16, 5, 4, 6)
    conv = nn.Conv3d(16, 8, 3, padding=1)
    expected = conv(z).permute(0, 2, 3, 4, 1).flatten(0, 3)
    torch.testing.assert_close(unfold_latents(z, 3) @ conv.weight.flatten(1).T + conv.bias, expected, atol=1e-4, rtol=1e-4)


def test_normal_equations_recover_a_linear_map():
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(3000, 10, generator=g), torch.randn(4, 10, generator=g)
    ne = NormalEquations(10, {"a": 4})
    ne.update(x, {"a": x @ w.T - 2.0})
    fit_w, fit_b = ne.solve("a", ridge=0.0)
    torch.testing.assert_close(fit_w, w, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(fit_b, torch.full((4,), -2.0), atol=1e-4, rtol=1e-4)
    assert ne.relative_error("a", fit_w, fit_b) < 1e-8
    assert ne.relative_error("a", torch.zeros_like(w), torch.zeros(4)) > 0.5


def test_least_squares_sweep_on_phi(phi, video):
    "Every k gets a fit; the fit is better on its own data than a zero map, and held-out errors are reported."
    lat = torch.randn(3, 16, 9, 8, 8, generator=torch.Generator().manual_seed(2))
    data = dict(latents=lat[:2], video=video)
    fit = least_squares_stitch(phi, data, [0, 2], heldout=dict(latents=lat[2:], video=video[:1]), batch_size=2)
    assert set(fit) == {0, 2}
    for row in fit.values():
        assert 0 <= row["fit_error"] < 1 and row["heldout_error"] > 0
        assert row["patch_weight"].shape == (32, 16, 5, 5, 5) and row["special_weight"].shape == (5 * 32, 32 + 9)
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    lgm.connector.load_least_squares(fit[2])
    with torch.no_grad():
        tokens, _ = phi_tokens_at(phi, video, [2])
        err = (lgm.stitch_tokens(lat[:2])[:, :, 5:] - tokens[2][:, :, 5:]).pow(2).sum()
        total = (tokens[2][:, :, 5:] - tokens[2][:, :, 5:].flatten(0, 2).mean(0)).pow(2).sum()
    assert abs(float(err / total) - fit[2]["fit_error"]) < 1e-3  # the connector realises exactly the fitted map


# ------------------------------------------------------------------ stitching
@pytest.mark.parametrize("k", [0, 1, 3, 4])
def test_split_is_exact(phi, video, k):
    tokens, reference = phi_tokens_at(phi, video, [k])
    with torch.no_grad():
        out = LatentGeometryModel.from_geomodel(phi, k).forward_from_tokens(tokens[k])
    for field in ("pose_enc", "depth", "depth_conf", "points", "scene_flow", "c2w"):
        torch.testing.assert_close(getattr(out, field), getattr(reference, field), atol=1e-5, rtol=1e-4)


def test_lgm_drops_what_the_connector_replaces(phi):
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    names = dict(lgm.geomodel.named_parameters())
    assert not any(n.startswith(("patch_embed", "pos_embed", "frame_embed", "blocks.0.", "blocks.1.")) for n in names)
    assert any(n.startswith("blocks.2.") for n in names)
    assert all(t.startswith(("blocks.2.", "blocks.3.", "camera_head.")) for t in lora_target_modules(lgm))


def test_save_and_load_round_trip(phi, tmp_path):
    lgm = LatentGeometryModel.from_geomodel(phi, 2).eval()
    z = torch.randn(1, 16, 9, 8, 8)
    lgm.save_pretrained(tmp_path)
    again = LatentGeometryModel.from_pretrained(tmp_path).eval()
    assert again.stitch_layer == 2 and again.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(again(z).depth, lgm(z).depth)


def test_missing_weights_folder_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        LatentGeometryModel.from_pretrained(tmp_path)


def _data(video):
    return dict(latents=torch.randn(2, 16, 9, 8, 8, generator=torch.Generator().manual_seed(3)), video=video,
                has_gt=torch.zeros(2, dtype=torch.bool))


def test_frozen_training_moves_only_the_connector(phi, video):
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    before = {n: p.clone() for n, p in lgm.named_parameters()}
    with torch.no_grad(): start = float(teacher_loss(output_agreement(lgm(_data(video)["latents"]), phi(video))))
    train_stitching(lgm, phi, _data(video), steps=6, batch_size=2, lr=3e-3, log_every=3)
    with torch.no_grad(): end = float(teacher_loss(output_agreement(lgm(_data(video)["latents"]), phi(video))))
    assert end < start
    for n, p in lgm.named_parameters():
        assert torch.equal(p, before[n]) == n.startswith("geomodel."), n


def test_lora_training_is_merged(phi, video):
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    w = lgm.geomodel.blocks[3].attn.qkv.weight.clone()
    train_stitching(lgm, phi, _data(video), steps=4, batch_size=2, lr=3e-3, tune="lora", log_every=2)
    assert not any("lora_" in n for n, _ in lgm.named_parameters())
    assert isinstance(lgm.geomodel.blocks[3].attn.qkv, nn.Linear)
    assert not torch.equal(lgm.geomodel.blocks[3].attn.qkv.weight, w)
    with pytest.raises(ValueError, match="tune"):
        train_stitching(lgm, phi, _data(video), steps=1, tune="everything")


def test_frozen_training_checkpoints_the_lgm(phi, video, tmp_path):
    "`checkpoint_dir`: the weights every `checkpoint_every` steps, loadable as an LGM (what `--init-lgm` continues from)."
    lgm = LatentGeometryModel.from_geomodel(phi, 2)
    z = torch.randn(2, 16, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    data = {"latents": z, "video": video[:, :, :3], "has_gt": torch.zeros(2, dtype=torch.bool)}
    history = train_stitching(lgm, phi, data, steps=3, batch_size=2, checkpoint_dir=tmp_path / "ckpt", checkpoint_every=3, log_every=1)
    saved = LatentGeometryModel.from_pretrained(str(tmp_path / "ckpt"))
    assert all(torch.equal(v, saved.state_dict()[k]) for k, v in lgm.state_dict().items())  # the last checkpoint is the final state
    assert len(history) == 3 and (tmp_path / "ckpt" / "history.json").exists()
    lora = LatentGeometryModel.from_geomodel(phi, 2)
    train_stitching(lora, phi, data, steps=1, batch_size=2, tune="lora", checkpoint_dir=tmp_path / "lora", checkpoint_every=1)
    assert not (tmp_path / "lora").exists()  # LoRA adapters merge only at the end: no mid-run checkpoints


def test_train_lgm_continues_a_saved_lgm(phi, tmp_path):
    "`init_lgm` (`--init-lgm`): no least-squares fit and no sweep; training starts from the saved weights, at their k."
    from vggrpo.lgm import train_lgm
    from vggrpo.video import load_pipeline
    start = LatentGeometryModel.from_geomodel(phi, 2)
    with torch.no_grad():
        for p in start.connector.parameters(): p.normal_(0, 0.02, generator=torch.Generator().manual_seed(3))
    start.save_pretrained(str(tmp_path / "start"))
    results = train_lgm(phi, load_pipeline("tiny"), tmp_path / "run", stitch_layers=(0,), num_train=2, num_val=2, num_test=2,
                        num_generated_train=0, num_generated_test=0, final_steps=2, tune_modes=("frozen",), batch_size=2,
                        init_lgm=tmp_path / "start", log=lambda line: None)
    assert "sweep" not in results and "least_squares_seconds" not in results
    assert results["best_k"] == 2 and results["config"]["init_lgm"] == str(tmp_path / "start")
    assert results["init"]["teacher_total"] > 0 and set(results["histories"]) == {"frozen"}
    from vggrpo.lgm import plot_training_curves
    assert len(plot_training_curves(results).axes) == 1  # no sweep panel when continuing
    trained = LatentGeometryModel.from_pretrained(str(tmp_path / "run" / "lgm"))
    before, after = start.half().state_dict(), trained.half().state_dict()  # saved in float16
    assert trained.stitch_layer == 2
    assert all(torch.equal(after[k], before[k]) for k in before if k.startswith("geomodel."))  # frozen blocks
    assert any(not torch.equal(after[k], before[k]) for k in before if k.startswith("connector."))
    other = GeometryModel(hidden_size=48, num_layers=4, num_heads=2, head_channels=16, camera_depth=1)
    LatentGeometryModel.from_geomodel(other, 2).save_pretrained(str(tmp_path / "other"))
    with pytest.raises(ValueError, match="stitched to a Φ with"):  # before any data is rendered
        train_lgm(phi, None, tmp_path / "bad", init_lgm=tmp_path / "other")


def test_train_lgm_trains_on_worlds_from_an_offset(phi, tmp_path, monkeypatch):
    "`train_seed_offset` (`--train-seed-offset`): the training clips are the train-split worlds from that seed on; validation and test stay."
    import vggrpo.lgm as lgm_module
    from vggrpo.video import load_pipeline
    rendered, real = [], lgm_module.encoded_clip_data
    monkeypatch.setattr(lgm_module, "encoded_clip_data", lambda seeds, *a, **kw: (rendered.append(list(seeds)), real(seeds, *a, **kw))[1])
    weights, stitch = [], lgm_module.train_stitching
    monkeypatch.setattr(lgm_module, "train_stitching", lambda *a, **kw: (weights.append(kw.get("weights")), stitch(*a, **kw))[1])
    results = lgm_module.train_lgm(phi, load_pipeline("tiny"), tmp_path / "run", stitch_layers=(0,), num_train=2, num_val=2, num_test=2,
                                   num_generated_train=0, num_generated_test=0, ls_clips=2, sweep_steps=1, final_steps=1,
                                   tune_modes=("frozen",), batch_size=2, train_seed_offset=7, loss_weights={"gt": 2.0}, log=lambda line: None)
    assert rendered[0] == [7, 8] and rendered[1] == list(split_seeds("validation", 2))
    assert results["config"]["train_seed_offset"] == 7 and results["data"]["train_real"] == 2
    assert results["config"]["loss_weights"] == {"gt": 2.0} and weights == [None, {"gt": 2.0}]  # the sweep keeps the defaults
    with pytest.raises(ValueError, match="train_seed_offset"):
        lgm_module.train_lgm(phi, None, tmp_path / "bad", train_seed_offset=-1)
    with pytest.raises(ValueError, match="loss_weights"):
        lgm_module.train_lgm(phi, None, tmp_path / "bad", loss_weights={"depth": 1.0})


def test_parse_loss_weights():
    "`--loss-weights gt=1.5,teacher=0.5` parses to the multipliers `train_stitching` gets; a malformed value is a clear error."
    from vggrpo.lgm import _parse_weights
    assert _parse_weights("gt=1.5, teacher=0.5") == {"gt": 1.5, "teacher": 0.5} and _parse_weights(None) is None
    with pytest.raises(ValueError, match="name=number"): _parse_weights("gt:1")


def test_connector_starts_as_its_linear_map():
    c = LatentConnector(embed_dim=16, num_special_tokens=2)
    z = torch.randn(1, 16, 9, 8, 8)
    torch.testing.assert_close(c.features(z), c.stem(z) + c.frame_embed.T[None, :, :, None, None])


def test_cli_help():
    with pytest.raises(SystemExit) as e: train_lgm_cli(["--help"])
    assert e.value.code == 0


# ------------------------------------------------------------------ shipped weights
def test_shipped_lgm_loads_offline_and_feeds_the_rewards():
    from vggrpo.rewards import rewards_from_geometry
    lgm = LatentGeometryModel.from_pretrained().eval()
    with torch.no_grad():
        out = lgm(torch.randn(2, 16, 9, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert out.depth.shape == (2, 9, 64, 64) and out.c2w.shape == (2, 9, 4, 4) and out.scene_flow.shape == (2, 9, 64, 64, 3)
    assert torch.isfinite(out.depth).all() and (out.depth > 0).all()
    total, terms = rewards_from_geometry(dict(out))
    assert total.shape == (2,) and torch.isfinite(total).all()


def test_shipped_lgm_agrees_with_phi_on_an_encoded_clip():
    "The shipped LGM on the latents of a held-out clip reproduces Φ on its RGB frames (measured with the shipped k=4 LGM: depth AbsRel 0.050, rotation 0.58°; the one shipped before session 11: 0.074, 2.3°)."
    from vggrpo.geomodel import clip_batch, clip_metrics
    from vggrpo.lgm import reference_batch
    from vggrpo.video import encode_video, load_pipeline
    from vggrpo.worlds import render_clip, split_seeds
    clip = render_clip(split_seeds("test", 3)[-1], flow_stride=4)
    with torch.no_grad():
        latents = encode_video(load_pipeline("tiny"), clip.rgb[None])
        phi_out = GeometryModel.from_pretrained().eval()(clip_batch([clip])["video"])
        lgm = LatentGeometryModel.from_pretrained().eval()
        lgm_out = lgm(latents)
        untrained = LatentGeometryModel.from_geomodel(GeometryModel.from_pretrained(), lgm.stitch_layer).eval()(latents)
    shipped = clip_metrics(lgm_out, reference_batch(phi_out))[0]
    fresh = clip_metrics(untrained, reference_batch(phi_out))[0]
    assert shipped["depth_absrel"] < 0.15 and shipped["rotation_error_deg"] < 3.0
    assert shipped["depth_absrel"] < 0.5 * fresh["depth_absrel"]


# ------------------------------------------------------------------ reading the camera move a prompt names
def test_prompt_camera_move_reads_every_move():
    from vggrpo.lgm import CAMERA_MOVES, prompt_camera_move
    phrases = {"the camera orbits to the left": "orbit left", "the camera orbits to the right": "orbit right",
               "the camera dollies in": "dolly in", "the camera dollies out": "dolly out", "the camera pans left": "pan left",
               "the camera pans right": "pan right", "the camera trucks left": "truck left", "the camera trucks right": "truck right",
               "the camera cranes up": "crane up", "the camera cranes down": "crane down", "the camera is static": "static"}
    assert sorted(phrases.values()) == sorted(CAMERA_MOVES)
    for phrase, move in phrases.items():
        assert prompt_camera_move(f"A red box on a striped floor, {phrase}, handheld") == move
    assert prompt_camera_move("A red box on a striped floor") is None


def test_thumbnail_prompts_name_the_clips_moves():
    # regression: one-frame thumbnails named every camera move as going left, out or down
    from vggrpo.lgm import _prompts
    from vggrpo.worlds import render_clip, split_seeds
    seeds = split_seeds("test", 12)
    assert _prompts(seeds) == [render_clip(int(s)).prompt for s in seeds]


def test_camera_move_classifier_names_held_out_moves_from_ground_truth():
    from vggrpo.lgm import CameraMoveClassifier, _prompts, camera_adherence_vs_chance, prompt_camera_move
    from vggrpo.lgm import world_move_descriptors as descriptors
    from vggrpo.worlds import split_seeds
    fit, test = split_seeds("train", 160), split_seeds("test", 24)
    classifier = CameraMoveClassifier(descriptors(fit), [prompt_camera_move(p) for p in _prompts(fit)])
    predicted, prompts = classifier.predict(descriptors(test)), _prompts(test)
    accuracy = sum(m == prompt_camera_move(p) for m, p in zip(predicted, prompts)) / len(prompts)
    assert accuracy >= 0.75
    result = camera_adherence_vs_chance(predicted, prompts)
    assert result["adherence"] == pytest.approx(accuracy) and result["gain_ci"][0] > 0.4
    with pytest.raises(ValueError, match="descriptors but"):
        CameraMoveClassifier(descriptors(fit[:4]), ["static"])
