"Tests of vggrpo.viz as a user imports it: layouts, colourings, the 3D figure, GIF/MP4 files, bad input."
import math

import matplotlib
import matplotlib.pyplot
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from vggrpo.geometry import look_at, intrinsics_from_fov, project_points
from vggrpo.viz import (
    camera_frustums, clip_figure, clip_points, colorize, colorize_confidence, colorize_depth, compare_clips,
    frame_indices, frame_strip, read_video, robust_range, save_gif, save_mp4, scene_figure, video_html,
    video_to_uint8,
)
from vggrpo.worlds import SKY, render_clip


@pytest.fixture(scope="module")
def clip():
    return render_clip(4, num_frames=9, height=32, width=48, camera_path="crane")  # sees some sky


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def random_clip(frames=6, height=10, width=14, seed=0):
    "[3, T, H, W] in [-1, 1] where every frame differs (so GIF frames are never merged)."
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, frames, height, width, generator=g) * 2 - 1


def orbit_cameras(count=5):
    angles = torch.linspace(0, 1.0, count, dtype=torch.float64)
    eye = torch.stack([3 * torch.sin(angles), torch.full_like(angles, 1.0), -3 * torch.cos(angles)], -1)
    return look_at(eye, torch.zeros_like(eye))


def kinds(fig):
    return [trace.meta["kind"] for trace in fig.data]


# --- video_to_uint8 --------------------------------------------------------------------------

def test_video_to_uint8_layouts_agree():
    video = random_clip()
    frames = video_to_uint8(video)
    assert frames.shape == (6, 10, 14, 3) and frames.dtype == np.uint8
    channel_last = ((video.permute(1, 2, 3, 0) + 1) / 2).numpy()
    assert np.abs(video_to_uint8(channel_last).astype(int) - frames.astype(int)).max() <= 1
    assert np.array_equal(video_to_uint8(frames), frames)
    assert np.array_equal(video_to_uint8(video.to(torch.bfloat16)).shape, frames.shape)


def test_video_to_uint8_range_ends_and_clipping():
    assert video_to_uint8(torch.full((3, 1, 2, 2), -1.0)).max() == 0
    assert video_to_uint8(torch.full((3, 1, 2, 2), 1.0)).min() == 255
    assert video_to_uint8(torch.full((3, 1, 2, 2), 1.2)).min() == 255  # small overshoot is clipped


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 3, 4, 4, 4), "pass one clip"),
    (torch.zeros(4, 4, 4), "expected one clip"),
    (torch.zeros(3, 2, 4, 4) + 100, "must lie in"),
    (np.zeros((2, 4, 4, 3)) + 3.0, "must lie in"),
    (np.zeros((3, 2, 4, 4), dtype=np.uint8), "channel-last"),
])
def test_video_to_uint8_rejects_bad_input(bad, message):
    with pytest.raises(ValueError, match=message):
        video_to_uint8(bad)


def test_video_to_uint8_rejects_non_arrays():
    with pytest.raises(TypeError, match="torch.Tensor or numpy"):
        video_to_uint8([[1, 2, 3]])
    with pytest.raises(TypeError, match="dtype"):
        video_to_uint8(np.zeros((2, 4, 4, 3), dtype=np.int64))


# --- colourings ------------------------------------------------------------------------------

def test_colorize_ends_of_the_scale_and_invalid_pixels():
    values = np.array([[0.0, 1.0], [0.5, np.nan]])
    rgb = colorize(values, "viridis", value_range=(0.0, 1.0))
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    viridis = matplotlib.colormaps["viridis"]
    assert np.array_equal(rgb[0, 0], viridis(0.0, bytes=True)[:3])
    assert np.array_equal(rgb[0, 1], viridis(1.0, bytes=True)[:3])
    assert np.array_equal(rgb[1, 1], [0, 0, 0])
    masked = colorize(values, value_range=(0.0, 1.0), mask=np.array([[True, False], [True, True]]), invalid_color=(255, 0, 255))
    assert np.array_equal(masked[0, 1], [255, 0, 255])
    with pytest.raises(ValueError, match="mask"):
        colorize(values, mask=np.ones((3, 3), bool))
    assert colorize(np.full((4, 4), 2.0)).shape == (4, 4, 3)  # constant input: no division by zero


def test_robust_range_ignores_outliers():
    values = np.concatenate([np.linspace(1, 2, 1000), [1e6]])
    low, high = robust_range(values)
    assert 1.0 <= low < high < 2.0
    assert robust_range(np.full(5, np.nan)) == (0.0, 1.0)


def test_colorize_depth_near_is_warm_and_invalid_is_black():
    depth = torch.linspace(1, 10, 64).reshape(1, 8, 8).repeat(3, 1, 1)
    depth[0, 0, 0] = 0.0
    depth[1, 0, 0] = float("inf")
    rgb = colorize_depth(depth)
    assert rgb.shape == (3, 8, 8, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[0, 0, 0], [0, 0, 0]) and np.array_equal(rgb[1, 0, 0], [0, 0, 0])
    near, far = rgb[2, 0, 1].astype(int), rgb[2, -1, -1].astype(int)
    assert near[0] > near[2] and far[2] > far[0]  # turbo: red near, blue far
    # the same depth gets the same colour in every frame (one scale per clip)
    assert np.array_equal(rgb[0, 4], rgb[2, 4])


def test_colorize_depth_shared_range_compares_two_maps():
    depth = torch.linspace(1, 5, 16).reshape(4, 4)
    farther = depth * 2
    shared = colorize_depth(depth, value_range=(1, 10)), colorize_depth(farther, value_range=(1, 10))
    assert not np.array_equal(*shared)  # on one scale the farther map looks different...
    assert np.array_equal(colorize_depth(depth), colorize_depth(farther))  # ...auto-ranged it would not
    linear = colorize_depth(depth, inverse=False, cmap="gray", value_range=(1, 5))
    assert linear[0, 0, 0] == 0 and linear[-1, -1, 0] == 255


def test_colorize_confidence_brighter_is_surer():
    confidence = 1 + torch.exp(torch.linspace(-3, 5, 50)).reshape(5, 10)
    for log in (False, True):
        rgb = colorize_confidence(confidence, log=log, percentiles=(0, 100)).astype(float)
        brightness = rgb.reshape(-1, 3) @ [0.299, 0.587, 0.114]
        assert (np.diff(brightness) >= -1e-9).all() and brightness[-1] > brightness[0] + 100
    assert colorize_confidence(confidence, log=True, value_range=(1, 100)).shape == (5, 10, 3)
    with pytest.raises(ValueError, match="value_range"):
        colorize_confidence(confidence, log=True, value_range=(0, 100))


def test_colorize_depth_rejects_non_positive_range():
    with pytest.raises(ValueError, match="value_range"):
        colorize_depth(torch.ones(4, 4), value_range=(0, 10))


# --- strips and comparisons ------------------------------------------------------------------

def test_frame_indices():
    assert frame_indices(33, 4) == [0, 4, 8, 12, 16, 20, 24, 28, 32]
    assert frame_indices(5, 1, max_frames=2) == [0, 4]
    with pytest.raises(ValueError, match="every"):
        frame_indices(5, 0)


def panels(fig):
    return [ax for ax in fig.axes if ax.images]


def test_frame_strip_and_compare_clips_layout():
    video = random_clip(frames=9)
    fig = frame_strip(video, every=2)
    assert len(panels(fig)) == 5
    assert [ax.get_title() for ax in panels(fig)] == ["t=0", "t=2", "t=4", "t=6", "t=8"]
    fig = compare_clips({"rgb": video, "depth": colorize_depth(torch.rand(9, 10, 14) + 1)}, every=4)
    assert len(panels(fig)) == 2 * 3
    assert len(compare_clips([video, video, video], every=1, max_frames=4).axes) == 3 * 4


def test_compare_clips_rejects_bad_input():
    video = random_clip(frames=9)
    with pytest.raises(ValueError, match="same number of frames"):
        compare_clips([video, video[:, :4]])
    with pytest.raises(ValueError, match="one per clip"):
        compare_clips([video], titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        compare_clips([])


# --- 3D --------------------------------------------------------------------------------------

def test_camera_frustums_corners_project_to_image_corners():
    c2w = orbit_cameras(4)
    K = intrinsics_from_fov(torch.tensor(math.radians(60.0), dtype=torch.float64), 24, 40)
    frustums = camera_frustums(c2w, K, (24, 40), scale=0.7)
    assert frustums.shape == (4, 5, 3)
    assert np.allclose(frustums[:, 0], c2w[:, :3, 3].numpy())
    uv, z = project_points(torch.from_numpy(frustums[:, 1:]), K, c2w[:, None])
    assert torch.allclose(z, torch.full_like(z, 0.7), atol=1e-9)
    # corners of the pixel grid: the centres of the corner pixels
    expected = torch.tensor([[0.5, 0.5], [39.5, 0.5], [39.5, 23.5], [0.5, 23.5]], dtype=torch.float64)
    assert torch.allclose(uv, expected.expand_as(uv), atol=1e-6)


def test_scene_figure_has_points_frustums_and_trajectories():
    c2w = orbit_cameras(5)
    K = torch.tensor([[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]])
    points = torch.randn(2, 12, 16, 3)
    points[0, 0, 0] = float("nan")
    colors = torch.rand(2, 12, 16, 3)
    fig = scene_figure(points, colors, c2w, K, (24, 32))
    assert kinds(fig).count("points") == 1 and kinds(fig).count("frustum") == 5 and kinds(fig).count("trajectory") == 1
    assert len(fig.data[0].x) == 2 * 12 * 16 - 1  # the NaN point is dropped
    assert fig.layout.scene.aspectmode == "data"
    small = scene_figure(points, (colors * 255).to(torch.uint8).numpy(), c2w, K, (24, 32), max_points=50, frustum_every=2)
    assert len(small.data[0].x) == 50 and kinds(small).count("frustum") == 3
    trajectory = [t for t in fig.data if t.meta["kind"] == "trajectory"][0]
    assert np.allclose(np.array(trajectory.x), c2w[:, 0, 3].numpy())


def test_scene_figure_two_trajectories_in_two_colours():
    c2w = orbit_cameras(5)
    K = torch.tensor([[20.0, 0, 16], [0, 20.0, 12], [0, 0, 1]])
    reference = c2w.clone()
    reference[:, :3, 3] += 0.3
    fig = scene_figure(None, None, c2w, K, (24, 32), reference_c2w=reference[:3], labels=("predicted", "true"))
    frustums = [t for t in fig.data if t.meta["kind"] == "frustum"]
    assert [t.meta["camera"] for t in frustums] == ["predicted"] * 5 + ["true"] * 3
    trajectories = [t for t in fig.data if t.meta["kind"] == "trajectory"]
    assert [t.name for t in trajectories] == ["predicted trajectory", "true trajectory"]
    assert trajectories[0].line.color != trajectories[1].line.color
    only_lines = scene_figure(c2w=c2w)  # without K: the trajectory alone
    assert kinds(only_lines) == ["trajectory"]


@pytest.mark.parametrize("kwargs, message", [
    (dict(points=torch.zeros(10, 2)), "points"),
    (dict(points=torch.zeros(10, 3), colors=torch.zeros(9, 3)), "colors"),
    (dict(c2w=torch.eye(4)), "c2w"),
    (dict(c2w=torch.eye(4).expand(3, 4, 4), K=torch.eye(3).expand(2, 3, 3), image_size=(4, 4)), "K"),
    (dict(c2w=torch.eye(4).expand(3, 4, 4), K=torch.eye(3)), "image_size"),
    (dict(c2w=torch.eye(4).expand(3, 4, 4), reference_c2w=torch.eye(3)), "reference_c2w"),
])
def test_scene_figure_rejects_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        scene_figure(**kwargs)


def test_clip_figure_on_a_world_clip(clip):
    points, colors = clip_points(clip, frame_stride=4)
    assert points.shape == (3, 32, 48, 3) and colors.shape == (3, 32, 48, 3)
    assert 0 <= colors.min() and colors.max() <= 1
    fig = clip_figure(clip, frame_stride=4, max_points=500)
    assert kinds(fig).count("points") == 1 and kinds(fig).count("frustum") == 3 and kinds(fig).count("trajectory") == 1
    assert len(fig.data[0].x) == min(500, int(torch.isfinite(points).all(-1).sum()))
    assert fig.layout.title.text == clip.prompt
    # sky pixels are dropped by default, kept on request
    sky = (clip.segmentation[::4] == SKY)
    assert sky.any() and torch.isnan(points[sky]).all() and torch.isfinite(points[~sky]).all()
    with_sky, _ = clip_points(clip, frame_stride=4, drop_sky=False)
    assert torch.isfinite(with_sky).all()
    # the points of frame 0 project back onto frame 0's pixel grid
    uv, _ = project_points(points[0].double(), clip.K.double(), clip.c2w[0].double())
    assert torch.allclose(uv[5, 7], torch.tensor([7.5, 5.5], dtype=torch.float64), atol=1e-3)


# --- GIF / MP4 -------------------------------------------------------------------------------

def test_gif_round_trip(tmp_path):
    video = random_clip(frames=7, height=10, width=14)
    path = save_gif(video, tmp_path / "sub" / "clip.gif", fps=10, upscale=2)
    frames = read_video(path)
    assert frames.shape == (7, 20, 28, 3)
    # the palette is quantised, so compare loosely, and check the upscaling repeats pixels
    assert np.abs(frames[:, ::2, ::2].astype(int) - video_to_uint8(video).astype(int)).mean() < 20
    assert np.array_equal(frames[:, ::2, ::2], frames[:, 1::2, 1::2])
    assert "image/gif" in video_html(path).data


def test_mp4_round_trip_with_odd_size(tmp_path):
    smooth = torch.linspace(-1, 1, 11)[None, None, None, :].expand(3, 5, 9, 11).clone()
    smooth[:, :, :, :] += torch.linspace(0, 0.5, 5)[None, :, None, None]
    path = save_mp4(smooth.clamp(-1, 1), tmp_path / "clip.mp4", fps=12)
    frames = read_video(path)
    assert frames.shape == (5, 10, 12, 3)  # padded to even sizes for H.264
    error = np.abs(frames[:, :9, :11].astype(int) - video_to_uint8(smooth).astype(int)).mean()
    assert error < 12
    assert "video/mp4" in video_html(path).data


def test_video_writers_reject_bad_arguments(tmp_path):
    video = random_clip()
    with pytest.raises(ValueError, match="fps"):
        save_gif(video, tmp_path / "a.gif", fps=0)
    with pytest.raises(ValueError, match="fps"):
        save_mp4(video, tmp_path / "a.mp4", fps=-1)
    with pytest.raises(ValueError, match="upscale"):
        save_gif(video, tmp_path / "a.gif", upscale=0)
    with pytest.raises(ValueError, match="pass one clip"):
        save_mp4(video[None], tmp_path / "a.mp4")
