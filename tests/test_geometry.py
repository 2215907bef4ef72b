"""vggrpo.geometry as a user imports it: round trips, roma as an oracle, edge cases, gradients, bad input."""
import math

import pytest
import roma
import torch

from vggrpo.geometry import (
    absolute_trajectory_error, axis_angle_to_matrix, axis_angle_to_quaternion, cameras_from_pose_encoding,
    fov_from_intrinsics, intrinsics_from_fov, look_at, make_pose, matrix_to_axis_angle, matrix_to_quaternion,
    pixel_grid, pose_encoding_from_cameras, pose_inverse, project_points, quaternion_to_axis_angle,
    quaternion_to_matrix, relative_poses, trajectory_statistics, transform_points, umeyama_alignment,
    unproject_depth,
)

D64 = torch.float64


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_quat(*shape, seed=0, dtype=D64):
    q = torch.randn(*shape, 4, generator=gen(seed), dtype=dtype)
    return q / q.norm(dim=-1, keepdim=True)


def edge_rotvecs(dtype=D64):
    "Identity, tiny angles, exactly pi about several axes, and just below pi."
    axes = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, -2, 3]], dtype=dtype)
    axes = axes / axes.norm(dim=-1, keepdim=True)
    return torch.cat([
        torch.zeros(1, 3, dtype=dtype),
        1e-9 * axes, 1e-5 * axes,
        math.pi * axes, (math.pi - 1e-7) * axes,
    ])


def canonical(q):
    return torch.where(q[..., 3:] < 0, -q, q)


# ---------------------------------------------------------------- agreement with roma


def test_quaternion_to_matrix_matches_roma():
    q = random_quat(7, 11)
    torch.testing.assert_close(quaternion_to_matrix(q), roma.unitquat_to_rotmat(q), atol=1e-12, rtol=0)


def test_matrix_to_quaternion_matches_roma():
    R = roma.unitquat_to_rotmat(random_quat(500, seed=1))
    torch.testing.assert_close(matrix_to_quaternion(R), canonical(roma.rotmat_to_unitquat(R)), atol=1e-12, rtol=0)


def test_axis_angle_matches_roma():
    v = torch.randn(300, 3, generator=gen(2), dtype=D64)
    v = v / v.norm(dim=-1, keepdim=True) * torch.rand(300, 1, generator=gen(3), dtype=D64) * math.pi
    torch.testing.assert_close(axis_angle_to_matrix(v), roma.rotvec_to_rotmat(v), atol=1e-12, rtol=0)
    torch.testing.assert_close(matrix_to_axis_angle(roma.rotvec_to_rotmat(v)), v, atol=1e-10, rtol=0)
    torch.testing.assert_close(canonical(axis_angle_to_quaternion(v)), canonical(roma.rotvec_to_unitquat(v)), atol=1e-12, rtol=0)


def test_edge_rotations_match_roma():
    v = edge_rotvecs()
    torch.testing.assert_close(axis_angle_to_matrix(v), roma.rotvec_to_rotmat(v), atol=1e-12, rtol=0)
    R = roma.rotvec_to_rotmat(v)
    # at exactly pi, v and -v are the same rotation: compare matrices of the log instead
    torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, atol=1e-10, rtol=0)
    torch.testing.assert_close(matrix_to_axis_angle(R).norm(dim=-1), v.norm(dim=-1), atol=1e-7, rtol=0)


# ---------------------------------------------------------------- round trips (float64, 1e-6)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3, 4)])
def test_round_trips_any_leading_shape(shape):
    q = random_quat(*shape, seed=4)
    R = quaternion_to_matrix(q)
    assert R.shape == shape + (3, 3)
    torch.testing.assert_close(matrix_to_quaternion(R), canonical(q), atol=1e-6, rtol=0)
    torch.testing.assert_close(axis_angle_to_matrix(matrix_to_axis_angle(R)), R, atol=1e-6, rtol=0)
    torch.testing.assert_close(quaternion_to_matrix(axis_angle_to_quaternion(quaternion_to_axis_angle(q))), R, atol=1e-6, rtol=0)
    T = make_pose(R, torch.randn(shape + (3,), generator=gen(5), dtype=D64))
    torch.testing.assert_close(pose_inverse(pose_inverse(T)), T, atol=1e-12, rtol=0)
    torch.testing.assert_close(T @ pose_inverse(T), torch.eye(4, dtype=D64).expand(T.shape), atol=1e-12, rtol=0)


def test_round_trips_at_identity_and_half_turn():
    v = edge_rotvecs()
    R = axis_angle_to_matrix(v)
    torch.testing.assert_close(quaternion_to_matrix(matrix_to_quaternion(R)), R, atol=1e-12, rtol=0)
    small = v.norm(dim=-1) < 1
    torch.testing.assert_close(matrix_to_axis_angle(R[small]), v[small], atol=1e-12, rtol=0)


def test_rotations_are_proper_and_unit():
    R = axis_angle_to_matrix(torch.randn(100, 3, generator=gen(6), dtype=D64) * 3)
    torch.testing.assert_close(R @ R.transpose(-1, -2), torch.eye(3, dtype=D64).expand(100, 3, 3), atol=1e-12, rtol=0)
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(100, dtype=D64), atol=1e-12, rtol=0)
    q = matrix_to_quaternion(R)
    assert (q[..., 3] >= 0).all()
    torch.testing.assert_close(q.norm(dim=-1), torch.ones(100, dtype=D64), atol=1e-12, rtol=0)


def test_unnormalised_quaternion_is_accepted():
    q = random_quat(10, seed=7)
    torch.testing.assert_close(quaternion_to_matrix(3.7 * q), quaternion_to_matrix(q), atol=1e-12, rtol=0)
    torch.testing.assert_close(quaternion_to_matrix(-q), quaternion_to_matrix(q), atol=1e-12, rtol=0)


# ---------------------------------------------------------------- dtypes and gradients


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_preserved_and_float32_accurate(dtype):
    q = random_quat(50, seed=8, dtype=dtype)
    R = quaternion_to_matrix(q)
    assert R.dtype == dtype and matrix_to_quaternion(R).dtype == dtype and matrix_to_axis_angle(R).dtype == dtype
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    torch.testing.assert_close(matrix_to_quaternion(R), canonical(q), atol=tol, rtol=0)
    K = intrinsics_from_fov(torch.tensor(1.0, dtype=dtype), 16, 24)
    assert K.dtype == dtype
    assert unproject_depth(torch.ones(16, 24, dtype=dtype), K, torch.eye(4, dtype=dtype)).dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_at_identity_and_half_turn(dtype):
    v = edge_rotvecs(dtype).requires_grad_()
    R = axis_angle_to_matrix(v)
    loss = R.square().sum() + matrix_to_axis_angle(R).square().sum() + matrix_to_quaternion(R).sum()
    (g,) = torch.autograd.grad(loss, v)
    assert torch.isfinite(g).all()
    Rm = axis_angle_to_matrix(edge_rotvecs(dtype)).requires_grad_()
    (g,) = torch.autograd.grad(matrix_to_axis_angle(Rm).sum() + matrix_to_quaternion(Rm).sum(), Rm)
    assert torch.isfinite(g).all()


def test_gradcheck_exp_and_log():
    v = (torch.randn(4, 3, generator=gen(9), dtype=D64)).requires_grad_()
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (v,))
    assert torch.autograd.gradcheck(axis_angle_to_matrix, (torch.tensor([[1e-4, -2e-4, 0.0]], dtype=D64, requires_grad=True),))
    R = axis_angle_to_matrix(torch.randn(4, 3, generator=gen(10), dtype=D64)).requires_grad_()
    assert torch.autograd.gradcheck(matrix_to_axis_angle, (R,))
    assert torch.autograd.gradcheck(matrix_to_quaternion, (R,))


def test_small_angle_gradient_is_correct():
    # d/dv of the rotation vector of exp(v) is the identity at v = 0
    jac = torch.autograd.functional.jacobian(lambda v: matrix_to_axis_angle(axis_angle_to_matrix(v)), torch.zeros(3, dtype=D64))
    torch.testing.assert_close(jac, torch.eye(3, dtype=D64), atol=1e-10, rtol=0)


# ---------------------------------------------------------------- poses, cameras, projection


def test_relative_poses_reference_frame_and_invariance():
    c2w = make_pose(axis_angle_to_matrix(torch.randn(2, 6, 3, generator=gen(11), dtype=D64)),
                    torch.randn(2, 6, 3, generator=gen(12), dtype=D64))
    for ref in (0, 3, -1):
        rel = relative_poses(c2w, reference_index=ref)
        torch.testing.assert_close(rel[:, ref], torch.eye(4, dtype=D64).expand(2, 4, 4), atol=1e-12, rtol=0)
    world = make_pose(axis_angle_to_matrix(torch.tensor([0.3, -1.0, 2.0], dtype=D64)), torch.tensor([5.0, 1.0, -2.0], dtype=D64))
    torch.testing.assert_close(relative_poses(world @ c2w), relative_poses(c2w), atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="reference_index"):
        relative_poses(c2w, reference_index=6)


def test_look_at_is_opencv_and_sees_target():
    eye = torch.randn(20, 3, generator=gen(13), dtype=D64) * 5
    target = torch.randn(20, 3, generator=gen(14), dtype=D64)
    c2w = look_at(eye, target)
    R = c2w[..., :3, :3]
    torch.testing.assert_close(torch.linalg.det(R), torch.ones(20, dtype=D64), atol=1e-12, rtol=0)
    torch.testing.assert_close(c2w[..., :3, 3], eye)
    K = intrinsics_from_fov(torch.tensor(1.0, dtype=D64), 32, 48)
    uv, z = project_points(target, K, c2w)
    torch.testing.assert_close(uv, torch.tensor([24.0, 16.0], dtype=D64).expand(20, 2), atol=1e-9, rtol=0)
    torch.testing.assert_close(z, (target - eye).norm(dim=-1))
    # camera y (down in the image) points against world up
    assert (R[..., 1, 1] <= 1e-12).all()
    # a point above the target projects above the image centre (smaller v)
    uv_up, _ = project_points(target + torch.tensor([0.0, 0.1, 0.0], dtype=D64), K, c2w)
    horizontal = (c2w[..., 1, 2].abs() < 0.9)
    assert (uv_up[horizontal, 1] < 16.0).all()
    # looking straight up or down is still a rotation
    c = look_at(torch.zeros(2, 3, dtype=D64), torch.tensor([[0.0, 3, 0], [0, -3, 0]], dtype=D64))
    torch.testing.assert_close(torch.linalg.det(c[..., :3, :3]), torch.ones(2, dtype=D64), atol=1e-12, rtol=0)


def test_intrinsics_and_fov():
    K = intrinsics_from_fov(torch.tensor([0.5, 1.0, 2.0], dtype=D64), 30, 40)
    assert K.shape == (3, 3, 3)
    torch.testing.assert_close(K[:, 0, 2], torch.full((3,), 20.0, dtype=D64))
    torch.testing.assert_close(K[:, 1, 2], torch.full((3,), 15.0, dtype=D64))
    fov_h, fov_w = fov_from_intrinsics(K, 30, 40)
    torch.testing.assert_close(fov_w, torch.tensor([0.5, 1.0, 2.0], dtype=D64))
    torch.testing.assert_close(torch.tan(fov_h / 2), torch.tan(fov_w / 2) * 30 / 40)
    assert intrinsics_from_fov(1.0, 8, 8).dtype == torch.float32
    with pytest.raises(ValueError, match="fov_x"):
        intrinsics_from_fov(4.0, 8, 8)


def test_pixel_grid_centres():
    g = pixel_grid(3, 5)
    assert g.shape == (3, 5, 2)
    assert g[0, 0].tolist() == [0.5, 0.5] and g[2, 4].tolist() == [4.5, 2.5] and g[1, 3].tolist() == [3.5, 1.5]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 2e-3)])
def test_project_unproject_is_pixel_grid(dtype, tol):
    B, T, H, W = 2, 3, 12, 20
    depth = (0.5 + 5 * torch.rand(B, T, H, W, generator=gen(15), dtype=D64)).to(dtype)
    eye = torch.randn(B, T, 3, generator=gen(16), dtype=D64).to(dtype) * 4
    c2w = look_at(eye, torch.zeros_like(eye))
    K = intrinsics_from_fov(torch.tensor([0.8, 1.4], dtype=dtype), H, W)[:, None]  # per-clip K [B, 1, 3, 3]
    pts = unproject_depth(depth, K, c2w)
    assert pts.shape == (B, T, H, W, 3)
    uv, z = project_points(pts, K, c2w)
    torch.testing.assert_close(uv, pixel_grid(H, W, dtype).expand(B, T, H, W, 2), atol=tol, rtol=0)
    torch.testing.assert_close(z, depth, atol=tol, rtol=tol)


def test_unproject_geometry_known_values():
    # identity camera: the pixel at the principal point sees straight ahead, at distance = depth
    K = intrinsics_from_fov(math.pi / 2, 4, 4, dtype=D64)  # fx = 2
    pts = unproject_depth(torch.full((4, 4), 3.0, dtype=D64), K, torch.eye(4, dtype=D64))
    torch.testing.assert_close(pts[..., 2], torch.full((4, 4), 3.0, dtype=D64))
    # pixel (row 0, col 0) has centre (0.5, 0.5): x = (0.5 - 2) / 2 * 3
    torch.testing.assert_close(pts[0, 0], torch.tensor([-2.25, -2.25, 3.0], dtype=D64))


def test_project_broadcasts_points_into_all_cameras():
    eye = torch.tensor([[0.0, 0, -5], [5, 0, 0], [0, 0, 5]], dtype=D64)
    c2w = look_at(eye, torch.zeros_like(eye))
    K = intrinsics_from_fov(1.0, 10, 10, dtype=D64)
    uv, z = project_points(torch.zeros(1, 4, 3, dtype=D64), K, c2w)  # same 4 points into 3 cameras
    assert uv.shape == (3, 4, 2) and z.shape == (3, 4)
    torch.testing.assert_close(z, torch.full((3, 4), 5.0, dtype=D64))
    with pytest.raises(ValueError, match="leading dims"):
        project_points(torch.zeros(3, dtype=D64), K, c2w[:, None])


def test_transform_points_matches_matrix_product():
    T = make_pose(axis_angle_to_matrix(torch.randn(5, 3, generator=gen(17), dtype=D64)), torch.randn(5, 3, generator=gen(18), dtype=D64))
    p = torch.randn(5, 3, generator=gen(19), dtype=D64)
    hom = (T @ torch.cat([p, torch.ones(5, 1, dtype=D64)], -1)[..., None])[..., :3, 0]
    torch.testing.assert_close(transform_points(T, p), hom)


# ---------------------------------------------------------------- pose encoding


def test_pose_encoding_round_trip_and_first_frame():
    c2w = look_at(torch.randn(2, 9, 3, generator=gen(20), dtype=D64) * 3, torch.zeros(2, 9, 3, dtype=D64))
    K = intrinsics_from_fov(torch.tensor([0.7, 1.2], dtype=D64), 24, 40)[:, None]
    rel = relative_poses(c2w)
    enc = pose_encoding_from_cameras(rel, K, (24, 40))
    assert enc.shape == (2, 9, 9)
    torch.testing.assert_close(enc[:, 0, :7], torch.tensor([0, 0, 0, 0, 0, 0, 1.0], dtype=D64).expand(2, 7), atol=1e-12, rtol=0)
    torch.testing.assert_close(enc[..., :3], rel[..., :3, 3])  # translation is the camera centre (c2w)
    c2w_back, K_back = cameras_from_pose_encoding(enc, (24, 40))
    torch.testing.assert_close(c2w_back, rel, atol=1e-12, rtol=0)
    torch.testing.assert_close(K_back, K.expand(2, 9, 3, 3), atol=1e-10, rtol=0)
    # a raw network output with an unnormalised quaternion decodes to a proper rotation
    enc2 = enc.clone()
    enc2[..., 3:7] *= 2.5
    torch.testing.assert_close(cameras_from_pose_encoding(enc2, (24, 40))[0], rel, atol=1e-12, rtol=0)


# ---------------------------------------------------------------- Umeyama and ATE


@pytest.mark.parametrize("with_scale", [True, False])
def test_umeyama_recovers_known_similarity(with_scale):
    src = torch.randn(6, 15, 3, generator=gen(21), dtype=D64)
    scale = torch.rand(6, generator=gen(22), dtype=D64) * 5 + 0.1 if with_scale else torch.ones(6, dtype=D64)
    R = roma.rotvec_to_rotmat(torch.randn(6, 3, generator=gen(23), dtype=D64))
    t = torch.randn(6, 3, generator=gen(24), dtype=D64) * 10
    tgt = scale[:, None, None] * (R[:, None] @ src[..., None])[..., 0] + t[:, None]
    s_est, R_est, t_est = umeyama_alignment(src, tgt, with_scale=with_scale)
    torch.testing.assert_close(s_est, scale, atol=1e-9, rtol=0)
    torch.testing.assert_close(R_est, R, atol=1e-9, rtol=0)
    torch.testing.assert_close(t_est, t, atol=1e-9, rtol=0)


def test_umeyama_never_returns_a_reflection():
    src = torch.randn(40, 3, generator=gen(25), dtype=D64)
    mirrored = src * torch.tensor([-1.0, 1, 1], dtype=D64)
    _, R, _ = umeyama_alignment(src, mirrored)
    torch.testing.assert_close(torch.linalg.det(R), torch.tensor(1.0, dtype=D64))


def test_umeyama_bad_input():
    with pytest.raises(ValueError, match="N >= 3"):
        umeyama_alignment(torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same N"):
        umeyama_alignment(torch.zeros(4, 3), torch.zeros(5, 3))


def test_absolute_trajectory_error():
    gt = make_pose(roma.rotvec_to_rotmat(torch.randn(30, 3, generator=gen(26), dtype=D64)),
                   torch.cumsum(torch.randn(30, 3, generator=gen(27), dtype=D64), 0))
    sim = make_pose(roma.rotvec_to_rotmat(torch.tensor([0.4, 0.1, -2.0], dtype=D64)), torch.tensor([1.0, 2.0, 3.0], dtype=D64))
    moved = sim @ gt
    scaled = make_pose(moved[..., :3, :3], 0.3 * moved[..., :3, 3])
    assert absolute_trajectory_error(moved, gt, with_scale=False) < 1e-9
    assert absolute_trajectory_error(scaled, gt) < 1e-9
    assert absolute_trajectory_error(scaled, gt, with_scale=False) > 0.1
    noise = 0.05 * torch.randn(30, 3, generator=gen(28), dtype=D64)
    noisy = make_pose(gt[..., :3, :3], gt[..., :3, 3] + noise)
    ate = absolute_trajectory_error(noisy, gt)
    assert 0 < ate <= noise.square().sum(-1).mean().sqrt() + 1e-12  # alignment can only reduce the error
    batch = absolute_trajectory_error(torch.stack([moved, noisy]), torch.stack([gt, gt]))
    assert batch.shape == (2,)


# ---------------------------------------------------------------- trajectory statistics


def orbit(num_frames=20, step=0.05, radius=3.0):
    a = torch.arange(num_frames, dtype=D64) * step
    eye = torch.stack([radius * torch.sin(a), torch.full_like(a, 1.0), -radius * torch.cos(a)], -1)
    return look_at(eye, torch.zeros_like(eye))


def test_trajectory_statistics_shapes_and_known_values():
    c2w = orbit()
    s = trajectory_statistics(c2w)
    assert s["translation_speed"].shape == (19,) and s["translation_acceleration"].shape == (18,) and s["translation_jerk"].shape == (17,)
    assert s["rotation_speed"].shape == (19,) and s["angular_velocity"].shape == (19, 3)
    chord = 2 * math.sin(0.05 / 2)
    torch.testing.assert_close(s["translation_speed"], torch.full((19,), 3.0 * chord, dtype=D64))
    torch.testing.assert_close(s["translation_acceleration"], torch.full((18,), 3.0 * chord**2, dtype=D64))
    torch.testing.assert_close(s["rotation_speed"], torch.full((19,), 0.05, dtype=D64))
    assert s["rotation_acceleration"].max() < 1e-12 and s["rotation_jerk"].max() < 1e-12
    # rotation speed agrees with roma's geodesic distance between consecutive cameras
    torch.testing.assert_close(s["rotation_speed"], roma.rotmat_geodesic_distance(c2w[:-1, :3, :3], c2w[1:, :3, :3]))
    # a straight line at constant speed has zero acceleration and jerk
    line = make_pose(torch.eye(3, dtype=D64), torch.arange(10, dtype=D64)[:, None] * torch.tensor([0.1, 0.0, 0.2], dtype=D64))
    s = trajectory_statistics(line)
    assert s["translation_acceleration"].max() < 1e-12 and s["translation_jerk"].max() < 1e-12


def test_trajectory_statistics_invariances_and_shake():
    c2w = orbit()[None].expand(3, -1, -1, -1).clone()
    noise = roma.rotvec_to_rotmat(0.01 * torch.randn(3, 20, 3, generator=gen(29), dtype=D64))
    shaky = make_pose(c2w[..., :3, :3] @ noise, c2w[..., :3, 3] + 0.02 * torch.randn(3, 20, 3, generator=gen(30), dtype=D64))
    s = trajectory_statistics(shaky)
    s0 = trajectory_statistics(c2w)
    assert (s["rotation_jerk"].mean(-1) > 100 * s0["rotation_jerk"].mean(-1) + 1e-3).all()
    assert (s["translation_jerk"].mean(-1) > 10 * s0["translation_jerk"].mean(-1)).all()
    world = make_pose(roma.rotvec_to_rotmat(torch.tensor([1.0, 0.5, -0.2], dtype=D64)), torch.tensor([3.0, -4.0, 1.0], dtype=D64))
    s_moved = trajectory_statistics(world @ shaky)
    for k in ("translation_speed", "translation_jerk", "rotation_speed", "rotation_acceleration", "rotation_jerk"):
        torch.testing.assert_close(s_moved[k], s[k], atol=1e-10, rtol=0)
    s_scaled = trajectory_statistics(make_pose(shaky[..., :3, :3], 4 * shaky[..., :3, 3]))
    torch.testing.assert_close(s_scaled["translation_jerk"], 4 * s["translation_jerk"])
    torch.testing.assert_close(s_scaled["rotation_jerk"], s["rotation_jerk"])


def test_trajectory_statistics_gradients_finite_for_static_and_half_turn_steps():
    static = make_pose(torch.eye(3, dtype=D64).expand(5, 3, 3), torch.zeros(5, 3, dtype=D64)).requires_grad_()
    (g,) = torch.autograd.grad(sum(v.sum() for v in trajectory_statistics(static).values()), static)
    assert torch.isfinite(g).all()
    flips = axis_angle_to_matrix(torch.tensor([[0.0, 0, 0], [0, math.pi, 0], [0, 0, 0], [0, math.pi, 0]], dtype=D64))
    flipping = make_pose(flips, torch.zeros(4, 3, dtype=D64)).requires_grad_()
    s = trajectory_statistics(flipping)
    torch.testing.assert_close(s["rotation_speed"], torch.full((3,), math.pi, dtype=D64))
    (g,) = torch.autograd.grad(s["rotation_speed"].sum() + s["rotation_jerk"].sum(), flipping)
    assert torch.isfinite(g).all()


# ---------------------------------------------------------------- bad input


def test_bad_input_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"q must have shape \[\.\.\., 4\], got \[3\]"):
        quaternion_to_matrix(torch.zeros(3))
    with pytest.raises(ValueError, match="R must have shape"):
        matrix_to_quaternion(torch.zeros(4, 4))
    with pytest.raises(TypeError, match="v must be a torch.Tensor"):
        axis_angle_to_matrix([0.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="floating"):
        make_pose(torch.eye(3, dtype=torch.long), torch.zeros(3))
    with pytest.raises(ValueError, match="c2w must have shape"):
        unproject_depth(torch.ones(4, 4), torch.eye(3), torch.eye(3))
    with pytest.raises(ValueError, match=r"depth must have shape \[\.\.\., H, W\], got \[5\]"):
        unproject_depth(torch.ones(5), torch.eye(3), torch.eye(4))
    with pytest.raises(TypeError, match="depth must be a floating"):
        unproject_depth(torch.ones(4, 4, dtype=torch.long), torch.eye(3), torch.eye(4))
    with pytest.raises(ValueError, match="T >= 2"):
        trajectory_statistics(torch.eye(4)[None])
    with pytest.raises(ValueError, match="encoding must have shape"):
        cameras_from_pose_encoding(torch.zeros(7), (8, 8))


def test_float32_accuracy_near_half_turn():
    axes = torch.randn(500, 3, generator=gen(31), dtype=D64)
    axes = axes / axes.norm(dim=-1, keepdim=True)
    for angle in (math.pi, math.pi - 1e-3, 1e-3, 1e-6):
        R = roma.rotvec_to_rotmat(axes * angle)
        v32 = matrix_to_axis_angle(R.float())
        assert v32.dtype == torch.float32
        torch.testing.assert_close(axis_angle_to_matrix(v32).double(), R, atol=2e-6, rtol=0)
        torch.testing.assert_close(v32.double().norm(dim=-1), torch.full((500,), angle, dtype=D64), atol=2e-6, rtol=0)


def test_gradcheck_alignment_and_statistics():
    src = torch.randn(8, 3, generator=gen(32), dtype=D64, requires_grad=True)
    tgt = torch.randn(8, 3, generator=gen(33), dtype=D64)
    assert torch.autograd.gradcheck(lambda s: umeyama_alignment(s, tgt), (src,))
    pred = make_pose(axis_angle_to_matrix(torch.randn(6, 3, generator=gen(34), dtype=D64)), torch.randn(6, 3, generator=gen(35), dtype=D64))
    gt = make_pose(axis_angle_to_matrix(torch.randn(6, 3, generator=gen(36), dtype=D64)), torch.randn(6, 3, generator=gen(37), dtype=D64))
    assert torch.autograd.gradcheck(lambda p: absolute_trajectory_error(p, gt), (pred.requires_grad_(),))
    traj = orbit(8) @ make_pose(axis_angle_to_matrix(0.05 * torch.randn(8, 3, generator=gen(38), dtype=D64)), 0.05 * torch.randn(8, 3, generator=gen(39), dtype=D64))
    for key in ("translation_jerk", "rotation_jerk", "rotation_speed"):
        assert torch.autograd.gradcheck(lambda c: trajectory_statistics(c)[key], (traj.clone().requires_grad_(),))
