"""The sparse B-spline stage: weights and bending energy against ITK and numerics;
recovery of a known B-spline deformation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from workstation.registration._bspline import BendingEnergy, bspline_weights, optimise_bspline
from workstation.registration._sampled_metric import trilinear

sitk = pytest.importorskip("SimpleITK")


def _oblique_domain() -> sitk.Image:
    """An anisotropic, oblique, off-origin image domain."""
    img = sitk.Image([50, 40, 30], sitk.sitkUInt8)
    img.SetSpacing((2.0, 2.0, 2.5))
    img.SetOrigin((-10.0, 5.0, 3.0))
    rot = sitk.Euler3DTransform()
    rot.SetRotation(0.2, -0.3, 0.5)
    img.SetDirection(rot.GetMatrix())
    return img


def _points_in(img: sitk.Image, n: int, rng: np.random.Generator) -> np.ndarray:
    upper = np.array(img.GetSize()) - 0.5
    idx = rng.uniform(-0.5, upper, size=(n, 3))
    return np.array([img.TransformContinuousIndexToPhysicalPoint(tuple(i)) for i in idx])


def test_weights_reproduce_itk_bspline_inside_and_outside():
    rng = np.random.default_rng(1)
    img = _oblique_domain()
    tx = sitk.BSplineTransformInitializer(img, [4, 3, 2], 3)
    params = rng.normal(0.0, 3.0, tx.GetNumberOfParameters())
    tx.SetParameters(params.tolist())
    coeffs = params.reshape(3, -1).T
    pts = np.concatenate([_points_in(img, 500, rng), _points_in(img, 500, rng) + rng.normal(0, 40, (500, 3))])
    weights, inside = bspline_weights(tx, pts)
    ref = np.array([tx.TransformPoint(tuple(p)) for p in pts])
    assert inside[:500].all() and not inside.all()  # the domain points, and some outside it
    # ITK and the sparse weights are the same function (float rounding only)
    np.testing.assert_allclose(pts + weights @ coeffs, ref, atol=1e-9)
    assert weights.getnnz(axis=1).max() <= 64


def test_bending_energy_matches_finite_differences_of_itk():
    rng = np.random.default_rng(3)
    img = sitk.Image([20, 16, 12], sitk.sitkUInt8)
    img.SetSpacing((3.0, 3.0, 4.0))
    tx = sitk.BSplineTransformInitializer(img, [3, 2, 2], 3)
    params = rng.normal(0.0, 2.0, tx.GetNumberOfParameters())
    tx.SetParameters(params.tolist())
    energy, grad = BendingEnergy(tx)(params)
    # mean of sum_ij |d2u/dxi dxj|^2 over the domain, by second differences of ITK's transform
    origin = np.array(tx.GetTransformDomainOrigin())
    dims = np.array(tx.GetTransformDomainPhysicalDimensions())
    n, h = 12, 0.05
    axes = [origin[a] + (np.arange(n) + 0.5) / n * dims[a] for a in range(3)]
    total = 0.0
    for q in np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3):
        def u(d, q=q):
            return np.array(tx.TransformPoint(tuple(q + d))) - (q + d)
        for i in range(3):
            for j in range(3):
                ei, ej = np.eye(3)[i] * h, np.eye(3)[j] * h
                total += np.sum(((u(ei + ej) - u(ei - ej) - u(ej - ei) + u(-ei - ej)) / (4 * h * h)) ** 2)
    # midpoint rule on 12^3 cells of a degree-2 piecewise polynomial squared: within 3 %
    assert energy == pytest.approx(total / n**3, rel=0.03)
    k, d = int(np.argmax(np.abs(grad))), 1e-4
    plus, minus = params.copy(), params.copy()
    plus[k] += d
    minus[k] -= d
    bend = BendingEnergy(tx)
    assert grad[k] == pytest.approx((bend(plus)[0] - bend(minus)[0]) / (2 * d), rel=1e-6)


def test_trilinear_value_and_gradient():
    rng = np.random.default_rng(4)
    arr = rng.normal(size=(7, 9, 11))
    c = rng.uniform(0, [10, 8, 6], size=(500, 3))  # (x, y, z) continuous indices
    value, grad = trilinear(arr.ravel(), arr.shape, c)
    np.testing.assert_allclose(value, ndimage.map_coordinates(arr, c[:, ::-1].T, order=1), atol=1e-12)
    h = 1e-6
    numeric = np.stack([(trilinear(arr.ravel(), arr.shape, c + h * e)[0]
                         - trilinear(arr.ravel(), arr.shape, c - h * e)[0]) / (2 * h) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(grad, numeric, atol=1e-6)
    corner = trilinear(arr.ravel(), arr.shape, np.array([[10.0, 8.0, 6.0]]))[0]
    assert corner[0] == pytest.approx(arr[6, 8, 10])  # the last voxel is reachable


@pytest.mark.parametrize("metric", ["correlation", "meansquares"])
def test_known_bspline_deformation_is_recovered(metric):
    """A smooth textured image seen through a known B-spline (mean 2.5 mm): the stage finds it."""
    rng = np.random.default_rng(5)
    shape = (40, 48, 48)  # z, y, x; 3 mm voxels
    texture = ndimage.gaussian_filter(rng.normal(size=shape), 2.0)
    moving = sitk.GetImageFromArray((texture / texture.std() * 100.0).astype(np.float32))
    moving.SetSpacing((3.0, 3.0, 3.0))
    truth = sitk.BSplineTransformInitializer(moving, [3, 3, 3], 3)
    params = np.zeros(truth.GetNumberOfParameters())
    inner = rng.normal(0.0, 5.0, params.size)
    params[:] = inner
    truth.SetParameters(params.tolist())
    fixed = sitk.Resample(moving, moving, truth, sitk.sitkBSpline, 0.0, sitk.sitkFloat32)
    mask = sitk.Image(moving.GetSize(), sitk.sitkUInt8)
    mask.CopyInformation(moving)
    box = np.zeros(shape, np.uint8)
    box[6:-6, 8:-8, 8:-8] = 1  # away from the edges, where the moving point may leave the image
    mask = sitk.GetImageFromArray(box)
    mask.CopyInformation(moving)
    estimate = sitk.BSplineTransformInitializer(moving, [3, 3, 3], 3)
    record = optimise_bspline(estimate, sitk.Transform(), fixed, moving, mask, None, metric,
                              n_samples=8000, iterations=60, seed=1)
    idx = np.argwhere(box > 0)[::7]
    pts = np.array([moving.TransformIndexToPhysicalPoint([int(v) for v in i[::-1]]) for i in idx])
    err = [np.linalg.norm(np.subtract(estimate.TransformPoint(tuple(p)), truth.TransformPoint(tuple(p))))
           for p in pts]
    before = [np.linalg.norm(np.subtract(p, truth.TransformPoint(tuple(p)))) for p in pts]
    assert np.mean(before) > 2.0  # a real deformation to find
    # found to 0.14 mm (correlation) and 0.09 mm (mean squares): within a tenth of a 3 mm voxel
    assert np.mean(err) < 0.3, (np.mean(err), np.mean(before))
    assert record["samples"] > 4000 and record["iterations"] > 0


def test_threaded_interpolation_equals_one_thread():
    """Splitting the samples over threads changes nothing (values, derivatives, validity)."""
    from workstation.registration._sampled_metric import SampledMetric

    rng = np.random.default_rng(6)
    arr = ndimage.gaussian_filter(rng.normal(size=(30, 40, 50)), 1.5).astype(np.float32)
    image = sitk.GetImageFromArray(arr)
    image.SetSpacing((2.0, 2.0, 3.0))
    image.SetDirection(_oblique_domain().GetDirection())
    one = SampledMetric(image, image, None, None, "correlation", 40_000, seed=2, threads=1)
    two = SampledMetric(image, image, None, None, "correlation", 40_000, seed=2, threads=2)
    moved = one.points + np.array([1.3, -0.7, 2.1])  # some samples leave the image
    v1, g1, ok1 = one.interpolate(moved)
    v2, g2, ok2 = two.interpolate(moved)
    assert not ok1.all() and ok1.sum() > 30_000
    np.testing.assert_array_equal(ok1, ok2)
    # the same arithmetic on the same numbers, in chunks: equal to float rounding
    np.testing.assert_allclose(v1, v2, rtol=0, atol=1e-9)
    np.testing.assert_allclose(g1, g2, rtol=0, atol=1e-9)
