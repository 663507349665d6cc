"""From an image to an activity map in Bq/mL at the time of administration.

Two calibrations:

``quantitative``
    The image is in Bq/mL (PET, quantitative SPECT). Values are decay-corrected
    to the administration time: when the header says the values are already
    corrected to the administration (DICOM Decay Correction ``ADMIN``) nothing is
    done; otherwise the values refer to ``metadata.reference_datetime`` (or the
    acquisition time) and are multiplied by ``exp(lambda * (t_ref - t_admin))``.
    The administration time is ``metadata.radiopharmaceutical.injection_datetime``
    or given explicitly. Without both times no correction is applied and a
    warning says so.
``administered``
    The image is relative (counts). It is scaled so that the normalisation region
    holds ``A_administered x (1 - LSF) x (1 - residual)``: by default the union of
    the liver and lesion ROIs, else the whole field of view.

Negative voxels (reconstruction noise) are clipped to zero and counted; NaN or
infinite voxels are an error.
"""

from __future__ import annotations

import datetime as _dt
import math
from dataclasses import dataclass, field

import numpy as np

from workstation.core.errors import InvalidInputError, UnitError
from workstation.core.volume import Unit, Volume
from workstation.dosimetry.nuclides import Nuclide, get_nuclide

__all__ = ["ActivityCalibration", "calibrate_activity"]


@dataclass
class ActivityCalibration:
    """A calibrated activity map and how it was obtained.

    Attributes
    ----------
    activity:
        Activity concentration (Bq/mL) at administration, float32.
    calibration:
        ``"quantitative"`` or ``"administered"``.
    total_in_image_gbq:
        Activity in the whole image after calibration (GBq).
    administered_gbq, lung_shunt_fraction, residual_fraction:
        As given (``None`` when not given).
    decay_factor:
        Factor applied to the image values (1 when none).
    """

    activity: Volume
    calibration: str
    total_in_image_gbq: float
    administered_gbq: float | None
    lung_shunt_fraction: float | None
    residual_fraction: float
    normalisation_region: str | None
    decay_factor: float
    negative_voxels: int
    negative_activity_fraction: float
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """The ``activity`` block of results.json."""
        return {
            "calibration": self.calibration,
            "total_in_image_gbq": self.total_in_image_gbq,
            "administered_gbq": self.administered_gbq,
            "lung_shunt_fraction": self.lung_shunt_fraction,
            "residual_fraction": self.residual_fraction,
            "normalisation_region": self.normalisation_region,
            "decay_factor": self.decay_factor,
            "negative_voxels_clipped": self.negative_voxels,
            "negative_activity_fraction": self.negative_activity_fraction,
        }


def _check_fraction(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise InvalidInputError(f"The {name} must be a fraction between 0 and 1 (exclusive), got {value}.")


def calibrate_activity(
    image: Volume,
    units: Unit | str | None = None,
    administered_gbq: float | None = None,
    lung_shunt_fraction: float | None = None,
    residual_fraction: float = 0.0,
    normalisation_weights: np.ndarray | None = None,
    normalisation_region: str | None = None,
    administration_datetime: _dt.datetime | None = None,
    nuclide: str | Nuclide = "Y-90",
    image_name: str = "the activity image",
) -> ActivityCalibration:
    """Calibrate an activity image (see the module docstring).

    Parameters
    ----------
    image:
        SPECT/PET volume.
    units:
        ``"Bq/mL"`` or ``"counts"`` when the file does not say.
    administered_gbq:
        Administered activity (GBq); required for relative images.
    lung_shunt_fraction:
        Fraction of the administered activity shunted to the lungs.
    residual_fraction:
        Fraction left in the vial and catheter.
    normalisation_weights:
        Voxel weights (0..1) on the image grid of the normalisation region;
        ``None`` = whole field of view.
    administration_datetime:
        Time of administration, overriding the header.
    """
    nuc = get_nuclide(nuclide)
    _check_fraction("lung shunt fraction", lung_shunt_fraction)
    _check_fraction("residual fraction", residual_fraction)
    if administered_gbq is not None and not (math.isfinite(administered_gbq) and administered_gbq > 0):
        raise InvalidInputError(f"The administered activity must be positive, got {administered_gbq} GBq.")
    unit = image.units if units is None else Unit.parse(units)
    if units is not None and unit == Unit.UNKNOWN:
        raise UnitError(f"Unknown activity units {units!r}; use Bq/mL or counts.")
    if unit == Unit.UNKNOWN:
        raise UnitError(
            f"The units of {image_name} are unknown; give them with --activity-units Bq/mL or counts."
        )
    if unit not in (Unit.BQML, Unit.COUNTS):
        raise UnitError(
            f"{image_name} is in {unit.value}; activity must be in Bq/mL or counts."
        )
    arr = np.asarray(image.array, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{image_name} contains NaN or infinite voxels.")
    warnings: list[str] = []
    neg = arr < 0
    n_neg = int(neg.sum())
    total_abs = float(np.abs(arr).sum())
    neg_frac = float(-arr[neg].sum() / total_abs) if total_abs > 0 else 0.0
    if n_neg:
        arr = np.where(neg, 0.0, arr)
        warnings.append(
            f"{n_neg} negative voxels of {image_name} were set to zero "
            f"({100 * neg_frac:.2f} % of the absolute image sum)."
        )
    if float(arr.sum()) <= 0:
        raise InvalidInputError(f"{image_name} holds no positive activity.")
    decay = 1.0
    ml = image.voxel_volume_ml
    if unit == Unit.BQML:
        calibration = "quantitative"
        meta = image.metadata
        admin = administration_datetime or (
            meta.radiopharmaceutical.injection_datetime if meta.radiopharmaceutical else None
        )
        ref = meta.reference_datetime or meta.acquisition_datetime
        if (meta.decay_correction or "").upper() == "ADMIN":
            decay = 1.0
        elif admin is not None and ref is not None:
            dt_s = (ref - admin).total_seconds()
            if dt_s < -60:
                raise InvalidInputError(
                    f"{image_name} is dated {ref.isoformat()}, before the administration at "
                    f"{admin.isoformat()}; check the administration time."
                )
            decay = math.exp(nuc.decay_constant_per_s * max(dt_s, 0.0))
        else:
            warnings.append(
                f"No decay correction was applied to {image_name}: the image and administration "
                "times are not both known; values are taken as activity at administration."
            )
        conc = arr * decay
        expected = None
        if administered_gbq is not None:
            expected = administered_gbq * (1 - (lung_shunt_fraction or 0.0)) * (1 - residual_fraction)
        total = float(conc.sum() * ml * 1e-9)
        if expected is not None and abs(total / expected - 1) > 0.2:
            warnings.append(
                f"{image_name} holds {total:.3g} GBq, {100 * (total / expected - 1):+.0f} % from the "
                f"expected {expected:.3g} GBq (administered x (1 - LSF) x (1 - residual))."
            )
    else:
        calibration = "administered"
        if administered_gbq is None:
            raise InvalidInputError(
                f"{image_name} is relative (counts): give the administered activity with --administered-gbq."
            )
        target_gbq = administered_gbq * (1 - (lung_shunt_fraction or 0.0)) * (1 - residual_fraction)
        weights = np.ones_like(arr) if normalisation_weights is None else np.asarray(normalisation_weights, float)
        if weights.shape != arr.shape:
            raise InvalidInputError("The normalisation region is not on the activity grid.")
        counts = float(np.sum(arr * weights))
        if counts <= 0:
            raise InvalidInputError(
                f"The normalisation region ({normalisation_region or 'field of view'}) of {image_name} holds no counts."
            )
        # Bq/mL = counts * (target Bq / region counts) / voxel mL
        conc = arr * (target_gbq * 1e9 / counts) / ml
        if normalisation_region is None:
            normalisation_region = "field of view"
        # the whole image against the administered activity (the same +-20 % check as quantitative images)
        # in the patient: administered x (1 - residual), lungs included
        image_gbq = float(conc.sum() * ml * 1e-9)
        in_patient = administered_gbq * (1 - residual_fraction)
        if abs(image_gbq / in_patient - 1) > 0.2:
            warnings.append(
                f"After normalising {normalisation_region} to {target_gbq:.3g} GBq, {image_name} holds "
                f"{image_gbq:.3g} GBq, {100 * (image_gbq / in_patient - 1):+.0f} % from the "
                f"{in_patient:.3g} GBq administered x (1 - residual) (counts outside the normalisation region: "
                "extrahepatic uptake, a wrong ROI or misregistration?)."
            )
    total_gbq = float(conc.sum() * ml * 1e-9)
    vol = image.copy_with(array=conc.astype(np.float32), units=Unit.BQML)
    return ActivityCalibration(
        activity=vol,
        calibration=calibration,
        total_in_image_gbq=total_gbq,
        administered_gbq=administered_gbq,
        lung_shunt_fraction=lung_shunt_fraction,
        residual_fraction=residual_fraction,
        normalisation_region=normalisation_region if calibration == "administered" else None,
        decay_factor=decay,
        negative_voxels=n_neg,
        negative_activity_fraction=neg_frac,
        warnings=warnings,
    )
