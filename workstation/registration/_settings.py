"""The tuning of :func:`~workstation.registration.register`: one frozen settings object.

These are engineering choices, not physics; every value is written into
``registration.json`` (``parameters``) so that a result says how it was made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from workstation.core.errors import InvalidInputError

__all__ = [
    "DEFAULT_SETTINGS",
    "METRIC_NAMES",
    "MetricName",
    "RegistrationMode",
    "RegistrationSettings",
]

RegistrationMode = Literal["rigid", "affine", "deformable"]
MetricName = Literal["mattes", "correlation", "meansquares"]

#: Names of the metrics as written in registration.json.
METRIC_NAMES: dict[str, str] = {
    "mattes": "Mattes mutual information",
    "correlation": "normalized correlation",
    "meansquares": "mean squares",
}

_STAGES = ("rigid", "affine", "deformable")


@dataclass(frozen=True)
class RegistrationSettings:
    """Tuning of :func:`~workstation.registration.register` (frozen; change with ``dataclasses.replace``).

    Attributes
    ----------
    working_spacing_mm:
        Images finer than this (mm) are smoothed and resampled to it before registering.
    grid_spacing_mm:
        B-spline control-point spacing (mm). 60 mm beat 40 mm on both the phantom
        (TRE 1.06 vs 1.36 mm) and the sample ablation pair (0.58 vs 2.26 mm): fewer
        coefficients per sample.
    same_frame_bound_mm:
        A hybrid SPECT/CT or PET/CT is trusted up to this rigid correction (mean
        displacement over the metric region, mm); beyond it the refinement is
        rejected and identity kept. Respiratory mismatch of the liver dome in hybrid
        SPECT/CT is typically up to ~1 cm, hence 15 mm.
    exclude_margin_mm:
        Excluded regions are dilated by this margin (mm) before removal from the
        metric mask.
    rigid_core_margin_mm:
        Rigid regions are dilated by this margin (mm); inside it the transform is
        exactly rigid.
    rigid_blend_mm:
        Width (mm) of the raised-cosine blend from the rigid core to the
        deformation outside.
    histogram_bins:
        Mattes mutual information histogram bins (32 beat 50 for noisy SPECT vs CT
        on the phantom).
    samples_linear:
        Random metric samples inside the metric mask of the rigid and affine
        stages with normalized correlation or mean squares: (each coarser level,
        in ITK; the finest level, by Levenberg-Marquardt in :mod:`._linear`). On
        the sample MAA CT to SIRT CT (rigid, no mask) the liver error, mean of
        three or four seeds: 0.019 mm before (ITK, 50 000 / 200 000), 0.027 mm with
        200 000 and 0.014 mm with 400 000 at the finest level, in half the time.
    samples_linear_before_bspline:
        At most this many samples at the finest level of the rigid and affine stages
        when a B-spline stage follows (normalized correlation or mean squares): they
        only start it. Against ``samples_linear`` (400 000): liver TRE on the sample
        ablation pair 0.70 -> 0.69 mm, on the real CT under a known warp 0.41 ->
        0.42 mm (both below the 0.79 and 0.44 mm before this optimizer); CPU time
        11.5 -> 7.9 s and 16.6 -> 12.2 s (``benchmarks/bench_registration.py``).
    samples_linear_mattes:
        The same for Mattes mutual information, whose joint histogram needs more:
        the finest level's 4x cut the spread of the liver error of the sample
        SPECT/CT over four seeds from 0.9-2.0 mm to 1.0-1.3 mm.
    samples_bspline:
        Random samples of the B-spline stage (fixed through its optimisation) with
        normalized correlation or mean squares (sparse derivatives: the cost grows
        with the samples, not with the control points).
    samples_bspline_mattes:
        The same for Mattes mutual information (ITK's optimizer, whose cost per
        sample grows with the number of control points).
    samples_evaluation:
        Random samples of a metric evaluation outside the optimisation: the metric
        before and after, the choice between initial alignments.
    error_points:
        Points of the metric region used for error estimates and checks.
    iterations_rigid, iterations_affine, iterations_deformable:
        Maximum iterations per resolution level of each stage.
    linear_step_mm, linear_min_step_mm, linear_relaxation:
        Regular-step gradient descent of the rigid and affine stages (ITK): first
        step, the step below which a level stops, and the factor the step shrinks
        by when the gradient turns (parameters scaled to mm of displacement).
    linear_coarse_min_step_mm:
        The step below which a coarse level stops when the finest level is left to
        Levenberg-Marquardt (normalized correlation, mean squares). 0.01 mm instead
        of 0.001 mm (``benchmarks/bench_registration.py`` pairs, liver TRE / CPU time):
        rigid sample pair 0.036 mm both, real CT rigid 0.0056 mm both, 5.3 -> 4.3 s;
        deformable sample pair 0.69 -> 0.71 mm, 8.0 -> 6.0 s; deformable real CT
        0.42 -> 0.40 mm, 11.0 -> 10.6 s.
    shrink_factors:
        Resolution levels of the rigid and affine stages (shrink factors of the
        working image; Gaussian smoothing sigma 0.5 x factor x working spacing).
    shrink_factors_bspline:
        Resolution levels of the B-spline stage (it starts from the affine result)
        when ITK's optimizer runs it (Mattes mutual information).
    bspline_bending_weight_mm2:
        Weight (mm^2) of the bending energy (mean squared second derivatives of the
        displacement, 1/mm^2; Rueckert et al., IEEE TMI 18:712, 1999) added to the
        B-spline metric (in units of its starting value). Liver TRE, mean of four
        sampling seeds: sample ablation pair (ribs and bowel slide past the liver in
        the 15 mm margin of the metric region) 1.06 mm without the penalty (three
        seeds, 15 000 samples), 0.56 mm with 100 (ITK's stage before it: 0.73 mm);
        real CT under a smooth known warp 0.43 mm without, 0.42 mm with 100 (before:
        0.44 mm); 300 cost the real CT 0.05 mm (one seed). With the final settings
        (one seed): sample pair 0.91 / 0.71 / 0.48 / 0.33 mm with 30 / 100 / 300 / 1000,
        real CT 0.40 / 0.46 mm with 100 / 300: a stiffer penalty helps where organs
        slide and hurts a genuinely smooth warp. Not applied by ITK's stage (Mattes
        mutual information).
    seed:
        Seed of the random metric sampling (results are repeatable).
    """

    working_spacing_mm: float = 2.0
    grid_spacing_mm: float = 60.0
    same_frame_bound_mm: float = 15.0
    exclude_margin_mm: float = 5.0
    rigid_core_margin_mm: float = 5.0
    rigid_blend_mm: float = 15.0
    histogram_bins: int = 32
    samples_linear: tuple[int, int] = (5_000, 400_000)
    samples_linear_before_bspline: int = 100_000
    samples_linear_mattes: tuple[int, int] = (50_000, 200_000)
    samples_bspline: int = 30_000
    samples_bspline_mattes: int = 15_000
    samples_evaluation: int = 20_000
    error_points: int = 3000
    iterations_rigid: int = 200
    iterations_affine: int = 200
    iterations_deformable: int = 50
    linear_step_mm: float = 2.0
    linear_min_step_mm: float = 1e-3
    linear_coarse_min_step_mm: float = 0.01
    linear_relaxation: float = 0.6
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    shrink_factors_bspline: tuple[int, ...] = (1,)
    bspline_bending_weight_mm2: float = 100.0
    seed: int = 20261127

    def __post_init__(self) -> None:
        if not (self.working_spacing_mm > 0 and self.grid_spacing_mm > 0):
            raise InvalidInputError("working_spacing_mm and grid_spacing_mm must be positive.")
        if not self.same_frame_bound_mm > 0:
            raise InvalidInputError(
                f"same_frame_bound_mm must be positive, but it is {self.same_frame_bound_mm}."
            )
        for name in ("exclude_margin_mm", "rigid_core_margin_mm", "rigid_blend_mm"):
            if not getattr(self, name) >= 0:
                raise InvalidInputError(f"{name} must not be negative, but it is {getattr(self, name)}.")
        if not (self.linear_step_mm > max(self.linear_min_step_mm, self.linear_coarse_min_step_mm)
                and min(self.linear_min_step_mm, self.linear_coarse_min_step_mm) > 0
                and 0 < self.linear_relaxation < 1):
            raise InvalidInputError(
                "The gradient descent needs linear_step_mm above linear_min_step_mm and "
                "linear_coarse_min_step_mm, both above 0, and 0 < linear_relaxation < 1, but they are "
                f"{self.linear_step_mm}, {self.linear_min_step_mm}, {self.linear_coarse_min_step_mm} "
                f"and {self.linear_relaxation}."
            )
        for name in ("samples_linear", "samples_linear_mattes"):
            counts = getattr(self, name)
            if len(counts) != 2 or any(int(n) < 1 for n in counts):
                raise InvalidInputError(f"{name} must be two sample counts >= 1, but it is {counts}.")
        for name in ("histogram_bins", "samples_linear_before_bspline", "samples_bspline", "samples_bspline_mattes",
                     "samples_evaluation", "error_points",
                     "iterations_rigid", "iterations_affine", "iterations_deformable"):
            if int(getattr(self, name)) < 1:
                raise InvalidInputError(f"{name} must be at least 1, but it is {getattr(self, name)}.")
        for name in ("shrink_factors", "shrink_factors_bspline"):
            factors = getattr(self, name)
            if not factors or any(int(f) < 1 for f in factors):
                raise InvalidInputError(f"{name} must be shrink factors >= 1, but it is {factors}.")

    @property
    def iterations(self) -> dict[str, int]:
        """Maximum iterations per resolution level, by stage (rigid, affine, deformable)."""
        return {"rigid": self.iterations_rigid, "affine": self.iterations_affine,
                "deformable": self.iterations_deformable}

    def with_iterations(self, iterations: dict[str, int]) -> RegistrationSettings:
        """A copy with some stages' maximum iterations changed (keys rigid, affine, deformable)."""
        from dataclasses import replace

        unknown = set(iterations) - set(_STAGES)
        if unknown:
            raise InvalidInputError(
                f"Unknown iteration stage(s) {sorted(unknown)}; use rigid, affine, deformable."
            )
        changes: dict[str, Any] = {f"iterations_{k}": int(v) for k, v in iterations.items()}
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """The settings as plain JSON values."""
        out = asdict(self)
        for name in ("shrink_factors", "shrink_factors_bspline", "samples_linear", "samples_linear_mattes"):
            out[name] = list(out[name])
        return out


#: The settings :func:`~workstation.registration.register` uses unless given others.
DEFAULT_SETTINGS = RegistrationSettings()
