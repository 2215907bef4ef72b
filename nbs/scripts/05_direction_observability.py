"""How well can a camera's direction of travel be read from the pixels at all? (CPU; see nbs/05_geomodel.ipynb,
"How much of the translation direction can pixels tell?")

python nbs/scripts/05_direction_observability.py OUT_JSON [NUM_CLIPS]

For the test clips that Φ's metrics use (the first NUM_CLIPS worlds of the test split, default 256; model frames 0, 4, …, 32)
and every frame pair the translation-direction metric scores (true baseline ≥ 2 % of the scene scale), this script
builds the exact correspondences of the static, non-sky pixels of frame i in frame j from the ground truth (depth and
cameras), adds Gaussian noise of σ pixels to their positions in frame j, and estimates the direction of travel from
them alone with the true relative rotation given: the coplanarity constraint t · (b_i × R_ij b_j) = 0 of every
correspondence, solved by SVD, its sign chosen by positive depths. Knowing the rotation makes it optimistic: a
method that reads pixels must also find R, whose error looks like translation on short baselines. It reports, per
σ, the mean over clips of the per-clip mean direction error (as the metric), for clips whose camera path translates
(orbit, dolly, truck, crane) and for static cameras and pans (only the handheld shake translates), plus every pair's
translational image motion (pixels: how far the points move beyond what the rotation alone explains).
"""
import json, math, multiprocessing, os, sys, time
from pathlib import Path

import numpy as np
import torch

from vggrpo.geomodel import clip_batch, normalize_targets
from vggrpo.geometry import axis_angle_to_matrix, matrix_to_axis_angle, pixel_grid, relative_poses
from vggrpo.worlds import render_clip, sample_camera_path, split_seeds

out = Path(sys.argv[1])
num_clips = int(sys.argv[2]) if len(sys.argv) > 2 else 256
SIGMAS = (0.0, 0.05, 0.1, 0.25, 0.5)  # pixels
MOVING = ("orbit", "dolly", "truck", "crane")
torch.set_grad_enabled(False)

def share_in_front(bi, bj, R, t):
    "Share of the points in front of both cameras for (R, t): λ_i b_i − λ_j R b_j = t solved for every point."
    A = torch.stack([bi, -(bj @ R.T)], -1)          # [N, 3, 2]
    lam = torch.linalg.lstsq(A, t.expand(len(bi), 3)[..., None]).solution[..., 0]  # [N, 2]
    return float((lam > 0).all(-1).float().mean())

def direction_from_bearings(bi, bj, R):
    "Unit direction t (camera i's frame) from bearings bi [N,3] (camera i) and bj [N,3] (camera j), given R = R_i^T R_j."
    n = torch.linalg.cross(bi, bj @ R.T)            # camera j's rays in camera i's axes: every n is orthogonal to t
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    t = torch.linalg.svd(n, full_matrices=False).Vh[-1]
    return t if share_in_front(bi, bj, R, t) >= 0.5 else -t  # the sign: the points lie in front of both cameras

def two_view(bi, bj):
    """(R = R_i^T R_j, unit t in camera i's frame) from bearings alone: the linear 8-point estimate of E = [t]x R
    (b_i^T E b_j = 0), projected to an essential matrix, and of its four (R, t) the one with most points in front."""
    E = torch.linalg.svd(torch.einsum("na,nb->nab", bi, bj).reshape(len(bi), 9), full_matrices=False).Vh[-1].reshape(3, 3)
    U, _, Vh = torch.linalg.svd(E)
    U, Vh = U * torch.det(U), Vh * torch.det(Vh)     # proper rotations (E's sign is free)
    Wz = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]], dtype=E.dtype)
    best = None
    for R in (U @ Wz @ Vh, U @ Wz.T @ Vh):
        for t in (U[:, 2], -U[:, 2]):
            front = share_in_front(bi, bj, R, t)
            if best is None or front > best[0]: best = (front, R, t)
    return best[1], best[2]

def refined_two_view(bi, bj, R0, t0):
    "(R, t) of `two_view` refined by L-BFGS on the mean Sampson error (the first-order geometric error, here with noise in frame j)."
    xi, xj = bi / bi[:, 2:], bj / bj[:, 2:]                         # normalised image coordinates (z = 1)
    w = torch.zeros(3, dtype=bi.dtype, requires_grad=True)
    t = t0.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([w, t], lr=1, max_iter=40, line_search_fn="strong_wolfe")
    def sampson():
        R = R0 @ axis_angle_to_matrix(w)
        u = t / t.norm()
        tx = torch.stack([torch.stack([0 * u[0], -u[2], u[1]]), torch.stack([u[2], 0 * u[0], -u[0]]), torch.stack([-u[1], u[0], 0 * u[0]])])
        E = tx @ R
        Exj, Etxi = xj @ E.T, xi @ E
        r = (xi * Exj).sum(-1)
        return (r ** 2 / (Exj[:, :2].square().sum(-1) + Etxi[:, :2].square().sum(-1)).clamp_min(1e-18)).mean()
    def closure():
        opt.zero_grad(); loss = sampson(); loss.backward(); return loss
    with torch.enable_grad(): opt.step(closure)
    R, u = (R0 @ axis_angle_to_matrix(w)).detach(), (t / t.norm()).detach()
    return R, (u if share_in_front(bi, bj, R, u) >= 0.5 else -u)

def score_clip(seed):
    "Every scored pair of one test clip: its translational image motion and the estimates' errors at every σ."
    torch.set_num_threads(1)
    rng = torch.Generator().manual_seed(seed)  # the noise of a clip does not depend on which worker scores it
    clip = render_clip(seed, 33, 64, 64, flow_stride=4, frame_stride=4)
    kind = sample_camera_path(seed).kind
    batch = clip_batch([clip], 4)
    scale = float(normalize_targets(batch)["scale"][0])
    rel = relative_poses(batch["c2w"][0].double())                 # [T, 4, 4], frame 0 = identity
    K = batch["K"][0].double(); Kinv = torch.linalg.inv(K)
    depth = batch["depth"][0].double()
    static = batch["valid"][0] & ~batch["dynamic"][0]                # static, non-sky pixels
    T, H, W = depth.shape
    uv = pixel_grid(H, W, torch.float64)
    pix = torch.cat([uv, torch.ones_like(uv[..., :1])], -1)         # homogeneous pixel centres [H, W, 3]
    pairs = []
    for i in range(T):
        for j in range(i + 1, T):
            Ri, ci, Rj, cj = rel[i, :3, :3], rel[i, :3, 3], rel[j, :3, :3], rel[j, :3, 3]
            t_true = Ri.T @ (cj - ci)
            if t_true.norm() < 0.02 * scale: continue               # as the metric: no direction for a camera that hardly moves
            m = static[i]
            Xi = (pix[m] @ Kinv.T) * depth[i][m][:, None]           # points in camera i
            Xj = (Xi @ Ri.T + ci - cj) @ Rj                          # the same points in camera j: R_j^T (R_i X_i + c_i − c_j)
            front = Xj[:, 2] > 1e-3
            xj = Xj[front] @ K.T; xj = xj[:, :2] / xj[:, 2:]
            inside = (xj[:, 0] >= 0) & (xj[:, 0] < W) & (xj[:, 1] >= 0) & (xj[:, 1] < H)
            Xi_k, xj = Xi[front][inside], xj[inside]
            if len(xj) < 20: continue
            R = Ri.T @ Rj
            xr = (Xi_k / Xi_k.norm(dim=-1, keepdim=True)) @ R         # the rotation alone: where the points would land
            xr = xr @ K.T; xr = xr[:, :2] / xr[:, 2:]
            parallax = float((xj - xr).norm(dim=-1).median())        # translational image motion, pixels
            bi = Xi_k / Xi_k.norm(dim=-1, keepdim=True)
            errs, joint, joint_rot = {}, {}, {}
            for sigma in SIGMAS:
                noisy = xj + sigma * torch.randn(xj.shape, generator=rng, dtype=torch.float64)
                bj = torch.cat([noisy, torch.ones(len(noisy), 1, dtype=torch.float64)], -1) @ Kinv.T
                bj = bj / bj.norm(dim=-1, keepdim=True)
                angle = lambda t: math.degrees(math.acos(float(torch.dot(t, t_true / t_true.norm()).clamp(-1, 1))))
                errs[str(sigma)] = angle(direction_from_bearings(bi, bj, R))
                R2, t2 = refined_two_view(bi, bj, *two_view(bi, bj))
                joint[str(sigma)] = angle(t2)
                joint_rot[str(sigma)] = math.degrees(float(matrix_to_axis_angle(R2.T @ R).norm()))
            pairs.append(dict(i=i, j=j, baseline_rel=float(t_true.norm() / scale), parallax_px=parallax, points=len(xj), error_deg=errs,
                              two_view_error_deg=joint, two_view_rotation_error_deg=joint_rot))
    return dict(seed=seed, kind=kind, handheld=bool(clip.shake.handheld), dynamic=bool(clip.scene.dynamic), pairs=pairs)

t0 = time.time()
workers = int(os.environ.get("WORKERS", os.cpu_count() or 1))
with multiprocessing.get_context("fork").Pool(workers) as pool:
    clips_out = []
    for row in pool.imap(score_clip, [int(s) for s in split_seeds("test", num_clips)]):
        clips_out.append(row)
        if len(clips_out) % 32 == 0: print(f"{len(clips_out)} clips, {time.time() - t0:.0f} s", flush=True)

def group_mean(keep, sigma, key="error_deg"):
    "Mean over the clips kept (with at least one scored pair) of their mean pair error at σ."
    per_clip = [np.mean([p[key][str(sigma)] for p in c["pairs"]]) for c in clips_out if c["pairs"] and keep(c)]
    return dict(clips=len(per_clip), mean_deg=float(np.mean(per_clip)) if per_clip else float("nan"))

groups = {"translating": lambda c: c["kind"] in MOVING, "shake only": lambda c: c["kind"] not in MOVING, "all": lambda c: True}
KEYS = {"known rotation": "error_deg", "two-view": "two_view_error_deg", "two-view rotation": "two_view_rotation_error_deg"}
summary = {est: {name: {str(s): group_mean(keep, s, key) for s in SIGMAS} for name, keep in groups.items()} for est, key in KEYS.items()}
parallax = {name: float(np.median([p["parallax_px"] for c in clips_out if keep(c) for p in c["pairs"]] or [float("nan")]))
            for name, keep in groups.items()}
out.parent.mkdir(parents=True, exist_ok=True)
def rounded(x):
    "Per-pair numbers to 4 significant digits (the file stays small; the summary above is exact)."
    if isinstance(x, float): return float(f"{x:.4g}")
    if isinstance(x, dict): return {k: rounded(v) for k, v in x.items()}
    if isinstance(x, list): return [rounded(v) for v in x]
    return x
out.write_text(json.dumps(dict(script="nbs/scripts/05_direction_observability.py", num_clips=num_clips, sigmas_px=SIGMAS,
                               moving_kinds=MOVING, summary=summary, median_parallax_px=parallax, clips=rounded(clips_out),
                               seconds=round(time.time() - t0, 1)), separators=(",", ":")))
print(f"{'estimate':18s}{'group':12s}{'clips':>6s}{'median parallax':>17s}" + "".join(f"{'σ=' + str(s) + ' px':>11s}" for s in SIGMAS))
for est in KEYS:
    for name in groups:
        row = summary[est][name]
        print(f"{est:18s}{name:12s}{row['0.0']['clips']:6d}{parallax[name]:14.2f} px" + "".join(f"{row[str(s)]['mean_deg']:10.1f}°" for s in SIGMAS))
print(f"{time.time() - t0:.0f} s")
