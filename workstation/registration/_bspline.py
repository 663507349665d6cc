"""The B-spline stage with sparse derivatives (normalized correlation or mean squares).

ITK's v4 metrics evaluate the derivative of a B-spline transform as a dense
Jacobian over every coefficient at every sample, so their cost grows with the
control grid; yet a cubic B-spline moves a point through its 4 x 4 x 4
neighbouring control points only (the observation elastix is built on: Klein et
al., IEEE TMI 29:196, 2010). Here the samples are fixed-space points, so their
B-spline weights are computed once into a sparse matrix ``W`` (64 non-zeros per
row); the displacement of every sample is ``W @ C`` and the metric gradient
with respect to the coefficients ``W.T @ (per-sample gradient)``.

The transform optimised is an ITK ``BSplineTransform`` (its coefficient grid,
its parameter order); only its coefficients are computed here, with scipy's
L-BFGS-B (Byrd et al., SIAM J Sci Comput 16:1190, 1995; Zhu et al., ACM TOMS
23:550, 1997), the algorithm ITK's ``LBFGSBOptimizerv4`` wraps, with the same
tolerances, on the metric of :mod:`._sampled_metric` plus a bending-energy
penalty (:class:`BendingEnergy`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from workstation.registration._sampled_metric import SampledMetric, index_frame, times_transposed

if TYPE_CHECKING:
    import SimpleITK as sitk
    from scipy import sparse

__all__ = ["BendingEnergy", "bspline_weights", "optimise_bspline"]


def _cubic_bspline(u: np.ndarray) -> np.ndarray:
    """Uniform cubic B-spline basis function beta3(u)."""
    t = np.abs(u)
    out = np.where(t < 1.0, (4.0 - 6.0 * t**2 + 3.0 * t**3) / 6.0, 0.0)
    return np.where((t >= 1.0) & (t < 2.0), (2.0 - t) ** 3 / 6.0, out)


def bspline_weights(transform: sitk.BSplineTransform, points: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Sparse B-spline weights of points (N, 3; LPS mm) on the transform's control grid.

    Returns
    -------
    (weights, inside):
        ``weights`` (N x number of control points, 64 non-zeros per row inside);
        the displacement of point i is ``weights[i] @ C`` with ``C`` the (control
        points x 3) coefficients in ITK's order (x index fastest). ``inside``:
        points in the transform's valid region (ITK moves no other point; their
        rows are empty).
    """
    from scipy import sparse

    coeff = transform.GetCoefficientImages()[0]
    origin, to_world = index_frame(coeff)
    size = np.array(coeff.GetSize(), dtype=int)  # (nx, ny, nz) = mesh + 3
    c = times_transposed(points - origin, np.linalg.inv(to_world))  # control-grid index (x, y, z)
    inside = np.all((c >= 1.0) & (c < size - 2.0), axis=1)
    start = np.floor(c).astype(np.int64) - 1
    offsets = np.arange(4)
    w = [_cubic_bspline(c[:, a, None] - (start[:, a, None] + offsets)) for a in range(3)]  # (N, 4) each
    ix = start[:, 0, None] + offsets
    iy = start[:, 1, None] + offsets
    iz = start[:, 2, None] + offsets
    weights = (w[2][:, :, None, None] * w[1][:, None, :, None] * w[0][:, None, None, :]).reshape(len(c), 64)
    flat = ((iz[:, :, None, None] * size[1] + iy[:, None, :, None]) * size[0] + ix[:, None, None, :]).reshape(len(c), 64)
    weights[~inside] = 0.0
    flat[~inside] = 0
    rows = np.repeat(np.arange(len(c)), 64)
    matrix = sparse.csr_matrix((weights.ravel(), (rows, flat.ravel())), shape=(len(c), int(np.prod(size))))
    return matrix, inside


def _cubic_bspline_derivatives(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First and second derivatives of beta3(u)."""
    t = np.abs(u)
    inner, outer = t < 1.0, (t >= 1.0) & (t < 2.0)
    d1 = np.where(inner, -2.0 * t + 1.5 * t**2, np.where(outer, -0.5 * (2.0 - t) ** 2, 0.0)) * np.sign(u)
    d2 = np.where(inner, -2.0 + 3.0 * t, np.where(outer, 2.0 - t, 0.0))
    return d1, d2


class BendingEnergy:
    """Bending energy of a B-spline displacement, mean over its domain (1/mm x mm^2 / mm^2 = 1/mm^2).

    E = mean over the domain of sum_ij |d2 u / dx_i dx_j|^2 (Rueckert et al., IEEE TMI
    18:712, 1999), a quadratic form in the coefficients assembled from separable 1D
    Gram matrices of the cubic B-spline basis and its derivatives (exact quadrature:
    the integrands are piecewise polynomials of degree <= 6, integrated by
    Gauss-Legendre with 4 nodes per knot interval).
    """

    def __init__(self, transform: sitk.BSplineTransform) -> None:
        coeff = transform.GetCoefficientImages()[0]
        size = np.array(coeff.GetSize())  # (x, y, z) = mesh + 3
        spacing = np.array(coeff.GetSpacing(), dtype=float)
        nodes, weights = np.polynomial.legendre.leggauss(4)
        self.grams: list[list[np.ndarray]] = []  # per axis (x, y, z): [G0, G1, G2]
        for a in range(3):
            mesh = int(size[a] - 3)
            # knot intervals [1, 2), ..., [mesh, mesh + 1) in grid-index units: the valid region
            u = (np.arange(1, mesh + 1)[:, None] + 0.5 + 0.5 * nodes[None, :]).ravel()
            w = np.tile(0.5 * weights, mesh) * spacing[a]  # dx = h du
            basis = u[:, None] - np.arange(size[a])[None, :]
            b0 = _cubic_bspline(basis)
            d1, d2 = _cubic_bspline_derivatives(basis)
            b1, b2 = d1 / spacing[a], d2 / spacing[a] ** 2
            self.grams.append([(b.T * w) @ b for b in (b0, b1, b2)])
        self.volume = float(np.prod(spacing * (size - 3)))
        self.shape = tuple(int(v) for v in size[::-1])  # (z, y, x)
        # (order along x, y, z; multiplicity): d2/dx2, d2/dy2, d2/dz2, and the mixed terms twice
        self.terms = [((2, 0, 0), 1.0), ((0, 2, 0), 1.0), ((0, 0, 2), 1.0),
                      ((1, 1, 0), 2.0), ((1, 0, 1), 2.0), ((0, 1, 1), 2.0)]

    def _apply(self, c: np.ndarray) -> np.ndarray:
        """K @ c for one displacement component c (z, y, x)."""
        # one axis at a time (two-operand einsums: no contraction-path search, no BLAS threads)
        along_x = [np.einsum("xX,zyX->zyx", g, c) for g in self.grams[0]]
        out = np.zeros_like(c)
        for (ox, oy, oz), mult in self.terms:
            t = np.einsum("yY,zYx->zyx", self.grams[1][oy], along_x[ox])
            out += mult * np.einsum("zZ,Zyx->zyx", self.grams[2][oz], t)
        return out

    def __call__(self, params: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy and its gradient for ITK-ordered parameters."""
        coeffs = params.reshape(3, *self.shape)
        k_c = np.stack([self._apply(coeffs[k]) for k in range(3)])
        return float(np.sum(coeffs * k_c)) / self.volume, 2.0 * k_c.ravel() / self.volume


def optimise_bspline(
    transform: sitk.BSplineTransform,
    linear: sitk.Transform,
    fixed: sitk.Image,
    moving: sitk.Image,
    fixed_mask: sitk.Image | None,
    moving_mask: sitk.Image | None,
    metric: str,
    n_samples: int,
    iterations: int,
    seed: int,
    on_evaluation: Callable[[int], None] | None = None,
    bending_weight: float = 0.0,
    threads: int = 1,
) -> dict[str, Any]:
    """Optimise the coefficients of ``transform`` (in place) for ``moving(linear(transform(x)))``.

    Parameters
    ----------
    transform:
        An initialised ITK B-spline transform (its grid is kept, its coefficients optimised).
    linear:
        The linear transform applied after it (fixed -> moving points).
    fixed, moving:
        Working images (float).
    fixed_mask, moving_mask:
        Metric masks (uint8 images, any grid) or ``None``.
    metric:
        ``"correlation"`` or ``"meansquares"``.
    n_samples:
        Random fixed voxels inside the fixed mask (fixed for the whole optimisation).
    iterations:
        L-BFGS-B iterations (at most twice as many function evaluations).
    seed:
        Seed of the sample choice.
    on_evaluation:
        Called with the number of function evaluations so far.
    bending_weight:
        Weight (mm^2) of the bending energy (:class:`BendingEnergy`, 1/mm^2) added to
        the metric expressed in units of its value at the start.
    threads:
        Threads of the moving-image interpolation (see :class:`~._sampled_metric.SampledMetric`).

    Returns
    -------
    dict
        Stage record: iterations, evaluations, stop condition, final metric value (the
        metric alone), bending energy, samples.
    """
    from scipy import optimize

    from workstation.registration._transforms import affine_parameters

    t0 = time.perf_counter()
    sampled = SampledMetric(fixed, moving, fixed_mask, moving_mask, metric, n_samples, seed, on_evaluation,
                            threads)
    weights, inside = bspline_weights(transform, sampled.points)
    sampled.keep(inside)
    weights = weights[inside]
    a, b = affine_parameters(linear)
    n_ctrl = weights.shape[1]
    bending = BendingEnergy(transform) if bending_weight > 0 else None

    def data_term(params: np.ndarray) -> tuple[float, np.ndarray]:
        """The metric (ITK's definition) and its gradient."""
        coeffs = params.reshape(3, n_ctrl).T  # (control points, 3), ITK parameter order
        value, d_y = sampled.evaluate(times_transposed(sampled.points + weights @ coeffs, a) + b)
        return value, (weights.T @ times_transposed(d_y, a.T)).T.ravel()  # chain rule: y = A (x + u) + b

    x0 = np.asarray(transform.GetParameters(), dtype=float)
    # The metric in units of its value at the start (so that one weight suits correlation,
    # which is about -1, and mean squares, in HU^2), plus the weighted bending energy.
    start_value, _ = data_term(x0)
    scale = abs(start_value) if start_value != 0.0 else 1.0

    def objective(params: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = data_term(params)
        value, grad = value / scale, grad / scale
        if bending is not None:
            energy, d_energy = bending(params)
            value += bending_weight * energy
            grad += bending_weight * d_energy
        return value, grad

    result = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B",
        options={"maxiter": int(iterations), "maxfun": 2 * int(iterations), "maxcor": 5,
                 "gtol": 1e-5, "ftol": 1e7 * np.finfo(float).eps},
    )
    transform.SetParameters(tuple(float(v) for v in result.x))
    final_value, _ = data_term(result.x)
    energy = (bending or BendingEnergy(transform))(result.x)[0]
    return {
        "iterations": int(result.nit),
        "function_evaluations": int(sampled.evaluations),
        "stop_condition": f"scipy L-BFGS-B: {result.message}",
        "final_metric_value": round(float(final_value), 6),
        "bending_energy_per_mm2": float(f"{energy:.4g}"),
        "samples": int(len(sampled.points)),
        "valid_samples_last_evaluation": sampled.valid,
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }
