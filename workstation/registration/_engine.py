"""The registration engine: one SimpleITK run (forward or reverse) of rigid, affine, B-spline stages.

See :mod:`workstation.registration._register` for the method; this module holds
the working images, the initialisation, the optimizer stages and the B-spline
control grid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from workstation.core.errors import NoOverlapError
from workstation.core.progress import Progress
from workstation.core.volume import Volume
from workstation.registration._bspline import optimise_bspline
from workstation.registration._linear import refine_linear
from workstation.registration._masks import Mask, mask_image, metric_regions, region_points
from workstation.registration._rigid_regions import keep_rigid
from workstation.registration._settings import (
    METRIC_NAMES,
    MetricName,
    RegistrationMode,
    RegistrationSettings,
)
from workstation.registration._transforms import (
    _name,
    affine_parameters,
    check_overlap_fraction,
    raise_no_overlap,
    transform_points,
)

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["Engine", "RunConfig", "identity_transform"]


@dataclass(frozen=True)
class RunConfig:
    """What one registration does: the mode, the metrics, the threads and the settings."""

    mode: RegistrationMode
    metric: MetricName
    deformable_metric: MetricName
    threads: int | None
    settings: RegistrationSettings


def working_image(volume: Volume, spacing_mm: float) -> sitk.Image:
    """Float image clipped to robust percentiles, smoothed and resampled to a working spacing.

    Axes finer than the working spacing are first averaged over blocks of whole
    voxels (at most the working spacing), then smoothed with the Gaussian that
    brings the total blur to sigma = sqrt(new^2 - old^2) / 2 (the block average
    counts with its variance (n^2 - 1) / 12 voxels^2), then resampled linearly.
    """
    import SimpleITK as sitk

    arr = volume.array
    sample = arr.ravel()[:: max(1, arr.size // 200_000)].astype(np.float64)
    lo, hi = np.percentile(sample, [0.5, 99.5])
    if hi <= lo:
        lo, hi = float(sample.min()), float(sample.max())
    img = sitk.Cast(volume.to_sitk(), sitk.sitkFloat32)
    if hi > lo:
        img = sitk.Clamp(img, sitk.sitkFloat32, float(lo), float(hi))
    spacing = np.array(img.GetSpacing())
    new = np.maximum(spacing, spacing_mm)
    if np.any(new > spacing * 1.05):
        target_variance = (0.5 * np.sqrt(np.maximum(new**2 - spacing**2, 0.0))) ** 2
        blocks = np.maximum(1, np.floor(new / spacing + 1e-6)).astype(int)
        if np.any(blocks > 1):
            img = sitk.BinShrink(img, [int(b) for b in blocks])
        block_variance = (blocks**2 - 1) / 12.0 * spacing**2
        variance = np.maximum(target_variance - block_variance, 0.0)
        if np.any(variance > 0):
            img = sitk.DiscreteGaussian(img, variance=variance.tolist(), maximumKernelWidth=64,
                                        useImageSpacing=True)
        spacing_now = np.array(img.GetSpacing())
        size = np.maximum(1, np.round(np.array(img.GetSize()) * spacing_now / new)).astype(int)
        direction = np.array(img.GetDirection()).reshape(3, 3)
        origin = np.array(img.GetOrigin()) + direction @ ((new - spacing_now) / 2.0)
        img = sitk.Resample(
            img, [int(s) for s in size], sitk.Transform(), sitk.sitkLinear,
            tuple(origin), tuple(new), tuple(direction.ravel()), float(lo), sitk.sitkFloat32,
        )
    return img


def mask_on(mask: np.ndarray | None, volume: Volume, working: sitk.Image) -> sitk.Image | None:
    """A metric mask (boolean, on the volume's grid) on the working image's grid (nearest neighbour).

    ITK scans every voxel of a mask image when a metric starts, so a mask on the
    working grid (a few hundred thousand voxels) instead of a 512 x 512 CT grid
    makes each resolution level and metric evaluation cheaper.
    """
    import SimpleITK as sitk

    img = mask_image(mask, volume)
    if img is None:
        return None
    if img.GetSize() == working.GetSize() and img.GetSpacing() == working.GetSpacing():
        return img
    return sitk.Resample(img, working, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)


def euler_from(a: np.ndarray, b: np.ndarray, center: np.ndarray) -> sitk.Transform:
    """Euler3D transform with the given centre equal to ``y = A x + b`` (A orthonormalised)."""
    import SimpleITK as sitk

    u, _, vt = np.linalg.svd(a)
    r = u @ vt
    if np.linalg.det(r) < 0:  # pragma: no cover - reflections never come from rigid fits
        u[:, -1] *= -1
        r = u @ vt
    tx = sitk.Euler3DTransform()
    tx.SetCenter(tuple(float(c) for c in center))
    tx.SetMatrix(tuple(float(v) for v in r.ravel()), 1e-5)
    tx.SetTranslation(tuple(float(v) for v in (a @ center + b - center)))
    return tx


def affine_from(a: np.ndarray, b: np.ndarray, center: np.ndarray) -> sitk.Transform:
    """Affine transform with the given centre equal to ``y = A x + b``."""
    import SimpleITK as sitk

    tx = sitk.AffineTransform(3)
    tx.SetCenter(tuple(float(c) for c in center))
    tx.SetMatrix(tuple(float(v) for v in a.ravel()))
    tx.SetTranslation(tuple(float(v) for v in (a @ center + b - center)))
    return tx


def identity_transform() -> sitk.Transform:
    import SimpleITK as sitk

    return sitk.Euler3DTransform()


def _set_metric(method: sitk.ImageRegistrationMethod, metric: str, histogram_bins: int) -> None:
    if metric == "mattes":
        method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=histogram_bins)
    elif metric == "correlation":
        method.SetMetricAsCorrelation()
    else:
        method.SetMetricAsMeanSquares()


class Engine:
    """One registration run (forward or reverse)."""

    def __init__(
        self,
        fixed: Volume,
        moving: Volume,
        masks: list[Mask],
        config: RunConfig,
        landmarks: tuple[np.ndarray, np.ndarray] | None,
        progress: Progress,
    ) -> None:
        self.fixed = fixed
        self.moving = moving
        self.masks = masks
        self.c = config
        self.s = config.settings
        self.landmarks = landmarks
        #: Linear start (A, b) imposed from outside: the reverse run of the error estimate
        #: starts from the inverse of the forward run's start.
        self.forced_start: tuple[np.ndarray, np.ndarray] | None = None
        self.start: tuple[np.ndarray, np.ndarray] | None = None
        self.progress = progress
        self.warnings: list[str] = []
        self.stages: list[dict[str, Any]] = []
        self.rigid_fits: list[dict[str, Any]] = []
        self.fixed_region: np.ndarray | None = None
        self.region_fraction = 1.0

    # -- SimpleITK plumbing
    def _method(self, n_voxels: int, region_fraction: float, targets: list[int],
                metric: str, shrink: list[int]) -> sitk.ImageRegistrationMethod:
        """A SimpleITK registration method with ``targets[k]`` random samples in the region at level k."""
        import SimpleITK as sitk

        r = sitk.ImageRegistrationMethod()
        _set_metric(r, metric, self.s.histogram_bins)
        r.SetMetricSamplingStrategy(r.RANDOM)
        pct = [
            float(min(1.0, t / max(1.0, n_voxels / s**3 * max(region_fraction, 1e-6))))
            for s, t in zip(shrink, targets, strict=True)
        ]
        r.SetMetricSamplingPercentagePerLevel(pct, self.s.seed)
        r.SetInterpolator(sitk.sitkLinear)
        # Normalized correlation and mean squares: moving-image derivatives by central differences
        # at the samples, not from a gradient image filtered over the whole image at every level
        # (with a few thousand samples per iteration the filter cost more than the optimisation).
        # Mattes mutual information keeps the filtered gradient: with its 200 000 samples the
        # per-sample differences were 5x slower, and less accurate on the sample SPECT/CT.
        r.SetMetricUseMovingImageGradientFilter(metric == "mattes")
        r.SetShrinkFactorsPerLevel(shrink)
        ws = self.s.working_spacing_mm
        r.SetSmoothingSigmasPerLevel([0.5 * s * ws if s > 1 else 0.0 for s in shrink])
        r.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
        if self.fixed_mask_img is not None:
            r.SetMetricFixedMask(self.fixed_mask_img)
        if self.moving_mask_img is not None:
            r.SetMetricMovingMask(self.moving_mask_img)
        if self.c.threads:
            r.SetNumberOfThreads(int(self.c.threads))
        return r

    def evaluate(self, transform: sitk.Transform) -> float | None:
        """Metric value of a transform at the working resolution (fixed seed)."""
        import SimpleITK as sitk

        r = sitk.ImageRegistrationMethod()
        _set_metric(r, self.c.metric, self.s.histogram_bins)
        r.SetMetricSamplingStrategy(r.RANDOM)
        n = self.f_img.GetNumberOfPixels() * max(self.region_fraction, 1e-6)
        r.SetMetricSamplingPercentage(float(min(1.0, self.s.samples_evaluation / max(n, 1.0))), self.s.seed)
        r.SetInterpolator(sitk.sitkLinear)
        r.SetMetricUseMovingImageGradientFilter(False)  # a metric value needs no derivatives
        if self.fixed_mask_img is not None:
            r.SetMetricFixedMask(self.fixed_mask_img)
        if self.moving_mask_img is not None:
            r.SetMetricMovingMask(self.moving_mask_img)
        r.SetInitialTransform(transform, inPlace=False)
        try:
            return round(float(r.MetricEvaluate(self.f_img, self.m_img)), 6)
        except RuntimeError:
            return None

    def _stage(
        self,
        name: str,
        transform: sitk.Transform,
        fraction: tuple[float, float],
        moving_initial: sitk.Transform | None = None,
        bspline: bool = False,
    ) -> sitk.Transform:
        import SimpleITK as sitk

        iterations = int(self.s.iterations[name if name != "bspline" else "deformable"])
        metric = self.c.deformable_metric if bspline else self.c.metric
        shrink = list(self.s.shrink_factors_bspline if bspline else self.s.shrink_factors)
        # Normalized correlation and mean squares: the finest level of a linear stage runs on
        # many samples with analytic derivatives (see ._linear), the coarser ones in ITK.
        refine = not bspline and metric != "mattes" and len(shrink) > 1 and shrink[-1] == 1
        if refine:
            shrink = shrink[:-1]
        if bspline:
            targets = [self.s.samples_bspline_mattes if metric == "mattes" else self.s.samples_bspline] * len(shrink)
        else:
            coarse, finest = self.s.samples_linear_mattes if metric == "mattes" else self.s.samples_linear
            targets = [coarse] * len(shrink) if refine else [coarse] * (len(shrink) - 1) + [finest]
        r = self._method(self.f_img.GetNumberOfPixels(), self.region_fraction, targets, metric, shrink)
        if bspline:
            r.SetOptimizerAsLBFGSB(
                gradientConvergenceTolerance=1e-5,
                numberOfIterations=iterations,
                maximumNumberOfCorrections=5,
                maximumNumberOfFunctionEvaluations=2 * iterations,
                costFunctionConvergenceFactor=1e7,
            )
        else:
            r.SetOptimizerAsRegularStepGradientDescent(
                learningRate=self.s.linear_step_mm,
                # coarse levels only ahead of a Levenberg-Marquardt finest level: they need not converge as far
                minStep=max(self.s.linear_min_step_mm, self.s.linear_coarse_min_step_mm) if refine
                else self.s.linear_min_step_mm,
                numberOfIterations=iterations,
                relaxationFactor=self.s.linear_relaxation,
                gradientMagnitudeTolerance=1e-8,
            )
            r.SetOptimizerScalesFromPhysicalShift()
        if moving_initial is not None:
            r.SetMovingInitialTransform(moving_initial)
        # ITK's L-BFGS-B keeps its bound arrays from the first level, so a B-spline control
        # grid is never refined between levels.
        r.SetInitialTransform(transform, inPlace=True)
        counts = [0] * len(shrink)
        total = 2 * iterations * len(shrink)
        itk_part = (fraction[0], fraction[0] + 0.7 * (fraction[1] - fraction[0])) if refine else fraction

        def on_iteration() -> None:
            level = min(r.GetCurrentLevel(), len(counts) - 1)
            counts[level] += 1
            done = min(1.0, sum(counts) / max(total, 1))
            self.progress(itk_part[0] + done * (itk_part[1] - itk_part[0]), f"registering ({name})")

        r.AddCommand(sitk.sitkIterationEvent, on_iteration)
        t0 = time.perf_counter()
        try:
            r.Execute(self.f_img, self.m_img)
        except RuntimeError as exc:
            text = str(exc)
            if "outside" in text.lower() or "samples" in text.lower():
                raise NoOverlapError(
                    f"The {name} registration of {_name(self.moving)} to {_name(self.fixed)} failed: "
                    "the images stopped overlapping inside the metric region; check that they show "
                    "the same anatomy, or give landmark pairs."
                ) from None
            raise
        self.stages.append(
            {
                "stage": name,
                "optimizer": "L-BFGS-B" if bspline else "regular step gradient descent",
                "metric": METRIC_NAMES[metric],
                "iterations_per_level": counts,
                "iterations": int(sum(counts)),
                "max_iterations_per_level": iterations,
                "stop_condition": r.GetOptimizerStopConditionDescription(),
                "final_metric_value_last_level": round(float(r.GetMetricValue()), 6),
                "sampling_percentage_per_level": [round(p, 5) for p in r.GetMetricSamplingPercentagePerLevel()],
                "elapsed_s": round(time.perf_counter() - t0, 2),
            }
        )
        if refine:
            return self._refine_finest(name, transform, metric, iterations, (itk_part[1], fraction[1]))
        return transform

    def _threads(self) -> int:
        """Threads of our own sampled metric: the run's, else SimpleITK's global default."""
        import SimpleITK as sitk

        return int(self.c.threads or sitk.ProcessObject.GetGlobalDefaultNumberOfThreads())

    def _finest_linear_samples(self) -> int:
        """Samples of the finest linear level by Levenberg-Marquardt: fewer when a B-spline stage follows."""
        if self.c.mode == "deformable":
            return int(min(self.s.samples_linear[1], self.s.samples_linear_before_bspline))
        return int(self.s.samples_linear[1])

    def _refine_finest(self, name: str, transform: sitk.Transform, metric: str, iterations: int,
                       fraction: tuple[float, float]) -> sitk.Transform:
        """The finest level of a linear stage on many samples (see :mod:`._linear`)."""
        kind: Literal["rigid", "affine"] = "rigid" if name == "rigid" else "affine"

        def on_evaluation(n: int) -> None:
            done = min(1.0, n / max(2 * iterations, 1))
            self.progress(fraction[0] + done * (fraction[1] - fraction[0]), f"registering ({name})")

        try:
            matrix, offset, rec = refine_linear(
                transform, kind, self.f_img, self.m_img, self.fixed_mask_img, self.moving_mask_img, metric,
                self._finest_linear_samples(), iterations, self.s.seed, on_evaluation, self._threads(),
            )
        except NoOverlapError:
            raise NoOverlapError(
                f"The {name} registration of {_name(self.moving)} to {_name(self.fixed)} failed: "
                "the images stopped overlapping inside the metric region; check that they show "
                "the same anatomy, or give landmark pairs."
            ) from None
        center = np.array(transform.GetFixedParameters()[:3], dtype=np.float64)  # Euler3D/affine: the centre
        stage = self.stages[-1]
        stage["iterations_per_level"] = [*stage["iterations_per_level"], rec["iterations"]]
        stage["iterations"] = int(sum(stage["iterations_per_level"]))
        stage["optimizer"] = "regular step gradient descent (ITK); finest level " + rec["optimizer"]
        stage["stop_condition"] = rec["stop_condition"]
        stage["final_metric_value_last_level"] = rec["final_metric_value"]
        stage["finest_level_samples"] = rec["samples"]
        stage["finest_level_function_evaluations"] = rec["function_evaluations"]
        stage["sampling_percentage_per_level"] = [
            *stage["sampling_percentage_per_level"],
            round(100.0 * rec["samples"] / max(1, self.f_img.GetNumberOfPixels()), 5),
        ]
        stage["elapsed_s"] = round(stage["elapsed_s"] + rec["elapsed_s"], 2)
        return euler_from(matrix, offset, center) if kind == "rigid" else affine_from(matrix, offset, center)

    # -- the run
    def run(self) -> tuple[sitk.Transform, dict[str, Any]]:
        import SimpleITK as sitk

        info: dict[str, Any] = {}
        fixed_region, moving_region = metric_regions(self.masks, self.fixed, self.moving,
                                                     self.s.exclude_margin_mm)
        self.fixed_region = fixed_region
        self.region_fraction = 1.0 if fixed_region is None else float(fixed_region.mean())
        self.f_img = working_image(self.fixed, self.s.working_spacing_mm)
        self.m_img = working_image(self.moving, self.s.working_spacing_mm)
        self.fixed_mask_img = mask_on(fixed_region, self.fixed, self.f_img)
        self.moving_mask_img = mask_on(moving_region, self.moving, self.m_img)
        self.points = region_points(self.fixed, fixed_region, self.s.error_points, self.s.seed)
        center = self.points.mean(axis=0)
        self.progress(0.02, "initialising")

        # 1. initialisation
        same_frame = (
            self.fixed.frame_of_reference_uid is not None
            and self.fixed.frame_of_reference_uid == self.moving.frame_of_reference_uid
        )
        frames_differ = (
            self.fixed.frame_of_reference_uid is not None
            and self.moving.frame_of_reference_uid is not None
            and not same_frame
        )
        identity = sitk.Euler3DTransform()
        identity.SetCenter(tuple(float(c) for c in center))
        if self.forced_start is not None:
            init = euler_from(self.forced_start[0], self.forced_start[1], center)
            init_method = "inverse of the forward registration's initialisation"
        elif self.landmarks is not None:
            lm = sitk.LandmarkBasedTransformInitializer(
                sitk.VersorRigid3DTransform(),
                [float(v) for v in self.landmarks[0].ravel()],
                [float(v) for v in self.landmarks[1].ravel()],
            )
            a, b = affine_parameters(lm)
            init = euler_from(a, b, center)
            init_method = "landmarks"
        elif same_frame:
            init, init_method = identity, "identity (same frame of reference)"
        else:
            f_lo, f_hi = self.fixed.bounding_box_world()
            m_lo, m_hi = self.moving.bounding_box_world()
            centred = euler_from(np.eye(3), (m_lo + m_hi) / 2 - (f_lo + f_hi) / 2, center)
            overlap = check_overlap_fraction(self.points, identity, self.moving)
            candidates: list[tuple[str, sitk.Transform]] = []
            if overlap >= 0.1:
                candidates.append(("identity (patient coordinates)", identity))
            if frames_differ or candidates:
                candidates.append(("image centres aligned", centred))
            if not candidates:
                raise_no_overlap(_name(self.fixed), _name(self.moving), self.fixed, self.moving)
            scored = [(self.evaluate(tx), label, tx) for label, tx in candidates]
            valid = [(v, label, tx) for v, label, tx in scored if v is not None]
            if not valid:
                raise_no_overlap(_name(self.fixed), _name(self.moving), self.fixed, self.moving)
            _, init_method, init = min(valid, key=lambda c: c[0])
            info["initial_candidates"] = {label: v for v, label, _ in scored}
        if check_overlap_fraction(self.points, init, self.moving) < 0.05:
            raise_no_overlap(_name(self.fixed), _name(self.moving), self.fixed, self.moving)
        info["initialisation"] = init_method
        self.start = affine_parameters(init)
        info["same_frame_of_reference"] = same_frame

        spans = {"rigid": [(0.05, 1.0)], "affine": [(0.05, 0.5), (0.5, 1.0)],
                 "deformable": [(0.05, 0.25), (0.25, 0.4), (0.4, 0.95)]}[self.c.mode]

        # 2. rigid
        a0, b0 = affine_parameters(init)
        rigid = self._stage("rigid", euler_from(a0, b0, center), spans[0])
        if same_frame:
            moved = transform_points(self.points, rigid)
            moves = np.linalg.norm(moved - self.points, axis=1)
            shift = float(moves.mean())
            accepted = shift <= self.s.same_frame_bound_mm
            info["same_frame_check"] = {
                "bound_mm": self.s.same_frame_bound_mm,
                "mean_refinement_displacement_mm": round(shift, 3),
                "max_refinement_displacement_mm": round(float(moves.max()), 3),
                "refinement_accepted": accepted,
                "note": "displacement over points of the fixed metric region; the bound applies to the mean",
            }
            if not accepted:
                self.warnings.append(
                    f"The images share a frame of reference but the rigid refinement moved the metric "
                    f"region by {shift:.1f} mm on average (bound {self.s.same_frame_bound_mm:g} mm); the "
                    "refinement was rejected and the scanner alignment (identity) kept: check the images."
                )
                rigid = identity
        final: sitk.Transform = rigid
        if self.c.mode in ("affine", "deformable"):
            a1, b1 = affine_parameters(rigid)
            final = self._stage("affine", affine_from(a1, b1, center), spans[1])
        if self.c.mode == "deformable":
            final = self._deformable(final, spans[2])
            rigid_regions = [m for m in self.masks if m.role == "rigid"]
            if rigid_regions:
                self.progress(0.96, "keeping rigid regions rigid")
                final, self.rigid_fits, warnings = keep_rigid(
                    final, rigid_regions, self.fixed, self.s.rigid_core_margin_mm, self.s.rigid_blend_mm
                )
                self.warnings.extend(warnings)
        info["stages"] = self.stages
        return final, info

    def _bspline_domain(self) -> sitk.Image:
        """The B-spline grid's domain: the metric region's box plus two control-point spacings.

        Coefficients whose support holds no metric sample keep their zero start
        value, so the displacement vanishes before the domain edge and the
        transform is continuous there; fewer coefficients make the stage faster
        (ITK evaluates dense parameter Jacobians per sample).
        """
        import SimpleITK as sitk

        if self.fixed_region is None:
            return self.f_img
        d = self.fixed.direction
        idx = np.argwhere(self.fixed_region)
        corners = np.array([[a, b, c] for a in (idx[:, 0].min(), idx[:, 0].max())
                            for b in (idx[:, 1].min(), idx[:, 1].max())
                            for c in (idx[:, 2].min(), idx[:, 2].max())], dtype=float)
        along = self.fixed.index_to_world(corners) @ d  # coordinates along the fixed axes (z, y, x)
        img_along = self.fixed.corners_world() @ d
        margin = 2.0 * self.s.grid_spacing_mm
        lo = np.maximum(along.min(axis=0) - margin, img_along.min(axis=0))
        hi = np.minimum(along.max(axis=0) + margin, img_along.max(axis=0))
        spacing_zyx = np.array(self.f_img.GetSpacing())[::-1]
        size_zyx = np.maximum(2, np.ceil((hi - lo) / spacing_zyx)).astype(int)
        dom = sitk.Image([int(v) for v in size_zyx[::-1]], sitk.sitkUInt8)
        dom.SetSpacing(tuple(float(v) for v in spacing_zyx[::-1]))
        dom.SetDirection(tuple(float(v) for v in d[:, ::-1].ravel()))
        dom.SetOrigin(tuple(float(v) for v in d @ (lo + spacing_zyx / 2.0)))
        return dom

    def _sparse_bspline_stage(self, bspline: sitk.BSplineTransform, affine: sitk.Transform,
                              span: tuple[float, float]) -> None:
        """The B-spline stage with sparse derivatives and a bending-energy penalty (see :mod:`._bspline`)."""
        iterations = int(self.s.iterations["deformable"])

        def on_evaluation(n: int) -> None:
            done = min(1.0, n / max(2 * iterations, 1))
            self.progress(span[0] + done * (span[1] - span[0]), "registering (bspline)")

        try:
            rec = optimise_bspline(
                bspline, affine, self.f_img, self.m_img, self.fixed_mask_img, self.moving_mask_img,
                self.c.deformable_metric, self.s.samples_bspline, iterations, self.s.seed,
                on_evaluation, self.s.bspline_bending_weight_mm2, self._threads(),
            )
        except NoOverlapError:
            raise NoOverlapError(
                f"The bspline registration of {_name(self.moving)} to {_name(self.fixed)} failed: "
                "the images stopped overlapping inside the metric region; check that they show "
                "the same anatomy, or give landmark pairs."
            ) from None
        self.stages.append(
            {
                "stage": "bspline",
                "optimizer": "L-BFGS-B (scipy; sparse B-spline derivatives, bending-energy penalty)",
                "metric": METRIC_NAMES[self.c.deformable_metric],
                "iterations_per_level": [rec["iterations"]],
                "iterations": rec["iterations"],
                "max_iterations_per_level": iterations,
                "function_evaluations": rec["function_evaluations"],
                "stop_condition": rec["stop_condition"],
                "final_metric_value_last_level": rec["final_metric_value"],
                "bending_energy_per_mm2": rec["bending_energy_per_mm2"],
                "bending_energy_weight_mm2": self.s.bspline_bending_weight_mm2,
                "samples": rec["samples"],
                "sampling_percentage_per_level": [
                    round(100.0 * rec["samples"] / max(1, self.f_img.GetNumberOfPixels()), 5)],
                "elapsed_s": rec["elapsed_s"],
            }
        )

    def _deformable(self, affine: sitk.Transform, span: tuple[float, float]) -> sitk.Transform:
        import SimpleITK as sitk

        domain = self._bspline_domain()
        extent = np.array(domain.GetSize()) * np.array(domain.GetSpacing())
        mesh = [max(1, int(round(e / self.s.grid_spacing_mm))) for e in extent]
        bspline = sitk.BSplineTransformInitializer(domain, mesh, 3)
        if self.c.deformable_metric in ("correlation", "meansquares"):
            self._sparse_bspline_stage(bspline, affine, span)
        else:
            self._stage("bspline", bspline, span, moving_initial=affine, bspline=True)
        self.stages[-1]["control_grid_mesh_size"] = mesh
        self.stages[-1]["control_point_spacing_mm"] = [
            round(float(e / m), 2) for e, m in zip(extent, mesh, strict=True)
        ]
        composite = sitk.CompositeTransform(3)
        composite.AddTransform(affine)
        composite.AddTransform(bspline)
        return composite
