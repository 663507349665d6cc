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
    samples_linear, samples_bspline:
        Random metric samples per resolution level inside the metric mask, for the
        rigid/affine stages (4x at their finest level) and the B-spline stage.
    error_points:
        Points of the metric region used for error estimates and checks.
    iterations_rigid, iterations_affine, iterations_deformable:
        Maximum iterations per resolution level of each stage.
    shrink_factors:
        Resolution levels of the rigid and affine stages (shrink factors of the
        working image; Gaussian smoothing sigma 0.5 x factor x working spacing).
    shrink_factors_bspline:
        Resolution levels of the B-spline stage (it starts from the affine result).
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
    samples_linear: int = 50_000
    samples_bspline: int = 15_000
    error_points: int = 3000
    iterations_rigid: int = 200
    iterations_affine: int = 200
    iterations_deformable: int = 50
    shrink_factors: tuple[int, ...] = (4, 2, 1)
    shrink_factors_bspline: tuple[int, ...] = (1,)
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
        for name in ("histogram_bins", "samples_linear", "samples_bspline", "error_points",
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
        for name in ("shrink_factors", "shrink_factors_bspline"):
            out[name] = list(out[name])
        return out


#: The settings :func:`~workstation.registration.register` uses unless given others.
DEFAULT_SETTINGS = RegistrationSettings()
