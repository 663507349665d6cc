"""Radiobiology: voxel BED and EQD2 for external beam, HDR brachytherapy and permanent implants.

Linear-quadratic model (LQ), no repopulation term. Doses in gray, α/β in gray,
times in hours. Every default parameter has a source in :data:`TISSUES` and is
overridable.

Fractionated irradiation (external beam, HDR brachytherapy)
-----------------------------------------------------------
``n`` fractions of ``d = D/n`` Gy, each delivered in a time short compared with
the repair half-time, with complete repair between fractions (Fowler JF,
Br J Radiol 62:679, 1989; Barendsen GW, Int J Radiat Oncol Biol Phys 8:1981,
1982)::

    BED = D (1 + d / (α/β)),      EQD2 = BED / (1 + 2 / (α/β))

For a dose map the number of fractions is the plan's, and ``d`` is each voxel's
own dose per fraction (``D_voxel / n``).

Permanent implant (SIRT microspheres, 90Y or 166Ho)
---------------------------------------------------
Dose rate ``R(t) = R0 exp(-λ t)`` for all time, mono-exponential repair with
rate ``μ = ln 2 / T_rep``. Dale RG, Br J Radiol 58:515 (1985), equation for a
permanent implant with complete decay::

    BED = (R0/λ) (1 + R0 / ((μ + λ)(α/β)))  =  D (1 + D λ / ((μ + λ)(α/β)))

with ``D = R0/λ`` the total absorbed dose; ``λ/(μ+λ)`` is the Lea-Catcheside
dose-protraction factor ``G`` of this dose-rate history. Used for 90Y
radioembolization by Dale (as above), Cremonesi M et al., Front Oncol 4:210
(2014) and Strigari L et al., J Nucl Med 51:1377 (2010). Biological clearance
of the microspheres is nil (they are trapped), so λ is the physical decay
constant.

Sums
----
EQD2 maps of different treatments add (the LQ model's BEDs add for the same
α/β); :func:`eqd2_sum` resamples each onto one grid (with a registration
transform where needed) and adds them voxel by voxel.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from workstation.core.errors import InvalidInputError
from workstation.core.volume import Unit, Volume

__all__ = [
    "TISSUES",
    "SCHEME_KINDS",
    "TissueParameters",
    "Scheme",
    "TreatmentDose",
    "bed_fractionated",
    "bed_permanent_implant",
    "eqd2_from_bed",
    "bed",
    "eqd2",
    "eqd2_volume",
    "eqd2_sum",
    "physical_dose_for_eqd2",
    "tissue",
    "RADIOBIOLOGY_SOURCES",
]

#: Treatment kinds understood by :class:`Scheme` (the ``SCHEME`` of ``workstation combine``).
SCHEME_KINDS: tuple[str, ...] = ("ebrt", "hdr", "sirt")


@dataclass(frozen=True)
class TissueParameters:
    """Linear-quadratic parameters of one tissue.

    Attributes
    ----------
    name:
        Tissue key (``"tumour"``, ``"liver"``, ``"lung"``, …).
    alpha_beta_gy:
        α/β ratio (Gy).
    repair_half_time_h:
        Mono-exponential sublethal-damage repair half-time (h); matters only
        for protracted irradiation (permanent implants).
    source:
        Where the numbers come from.
    """

    name: str
    alpha_beta_gy: float
    repair_half_time_h: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"alpha_beta_gy": self.alpha_beta_gy, "repair_half_time_h": self.repair_half_time_h,
                "source": self.source}


#: Default LQ parameters per tissue, each with its source. Override per call.
TISSUES: dict[str, TissueParameters] = {
    "tumour": TissueParameters(
        "tumour", 10.0, 1.5,
        "α/β 10 Gy: the conventional value for tumours and early-responding tissue (Fowler JF, "
        "Br J Radiol 62:679, 1989); T_rep 1.5 h for liver tumours in 90Y radioembolization (Strigari L "
        "et al., J Nucl Med 51:1377, 2010; Cremonesi M et al., Front Oncol 4:210, 2014)",
    ),
    "liver": TissueParameters(
        "liver", 2.5, 2.5,
        "normal liver α/β 2.5 Gy and T_rep 2.5 h (Strigari L et al., J Nucl Med 51:1377, 2010, "
        "from the liver NTCP data of Dawson LA et al., Int J Radiat Oncol Biol Phys 53:810, 2002; "
        "also Cremonesi M et al., Front Oncol 4:210, 2014)",
    ),
    "lung": TissueParameters(
        "lung", 3.0, 1.5,
        "α/β 3 Gy: the conventional value for late-responding normal tissue, used for lung "
        "pneumonitis (Fowler JF, Br J Radiol 62:679, 1989); T_rep 1.5 h: a generic late-tissue "
        "value, no lung-specific measurement behind it (override with --repair-half-time)",
    ),
    "late": TissueParameters(
        "late", 3.0, 1.5,
        "generic late-responding normal tissue: α/β 3 Gy (Fowler JF, Br J Radiol 62:679, 1989); "
        "T_rep 1.5 h generic",
    ),
}

RADIOBIOLOGY_SOURCES: tuple[str, ...] = (
    "LQ fractionation: Fowler JF, Br J Radiol 62:679 (1989); Barendsen GW, Int J Radiat Oncol Biol Phys 8:1981 (1982)",
    "permanent implant with exponential decay and repair: Dale RG, Br J Radiol 58:515 (1985)",
    "EQD2 = BED / (1 + 2/(α/β)): Joiner MC, Bentzen SM, in Basic Clinical Radiobiology (4th ed., 2009)",
)


def tissue(name: str | TissueParameters) -> TissueParameters:
    """Look up the default parameters of a tissue by name (case-insensitive)."""
    if isinstance(name, TissueParameters):
        return name
    key = str(name).strip().lower()
    aliases = {"tumor": "tumour", "lesion": "tumour", "target": "tumour", "gtv": "tumour", "ptv": "tumour",
               "ctv": "tumour", "normal_liver": "liver", "lungs": "lung"}
    key = aliases.get(key, key)
    if key not in TISSUES:
        raise InvalidInputError(
            f"Unknown tissue {name!r} for radiobiology; choose from {', '.join(sorted(TISSUES))} "
            "or give α/β explicitly."
        )
    return TISSUES[key]


def _positive(value: Any, what: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise InvalidInputError(f"{what} must be positive and finite, got {value!r}.")
    return arr


def _dose(dose_gy: Any) -> np.ndarray:
    arr = np.asarray(dose_gy, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("The dose contains NaN or infinite values.")
    if np.any(arr < 0):
        raise InvalidInputError(f"The dose has negative values (minimum {float(arr.min()):.3g} Gy).")
    return arr


def bed_fractionated(dose_gy: Any, fractions: int, alpha_beta_gy: Any) -> np.ndarray:
    """BED (Gy) of ``fractions`` equal acute fractions delivering ``dose_gy`` in total.

    Parameters
    ----------
    dose_gy:
        Total physical dose (Gy), scalar or array (a dose map).
    fractions:
        Number of fractions (≥ 1).
    alpha_beta_gy:
        α/β (Gy), scalar or an array broadcastable to ``dose_gy``.
    """
    if int(fractions) != fractions or fractions < 1:
        raise InvalidInputError(f"The number of fractions must be a positive integer, got {fractions!r}.")
    d = _dose(dose_gy)
    ab = _positive(alpha_beta_gy, "α/β")
    return d * (1.0 + d / (int(fractions) * ab))


def bed_permanent_implant(
    dose_gy: Any, half_life_h: float, alpha_beta_gy: Any, repair_half_time_h: Any
) -> np.ndarray:
    """BED (Gy) of a permanent implant delivering ``dose_gy`` by complete exponential decay.

    ``BED = D (1 + D λ / ((μ + λ) α/β))`` (Dale 1985), with ``λ = ln 2 / T½`` and
    ``μ = ln 2 / T_rep``.

    Parameters
    ----------
    dose_gy:
        Total absorbed dose for complete decay (Gy), scalar or array.
    half_life_h:
        Effective half-life of the dose rate (h): the physical half-life for
        microspheres.
    alpha_beta_gy, repair_half_time_h:
        LQ parameters, scalars or arrays broadcastable to ``dose_gy``.
    """
    d = _dose(dose_gy)
    lam = math.log(2.0) / float(_positive(half_life_h, "The half-life"))
    mu = math.log(2.0) / _positive(repair_half_time_h, "The repair half-time")
    ab = _positive(alpha_beta_gy, "α/β")
    return d * (1.0 + d * lam / ((mu + lam) * ab))


def eqd2_from_bed(bed_gy: Any, alpha_beta_gy: Any) -> np.ndarray:
    """EQD2 (Gy) = BED / (1 + 2/(α/β))."""
    ab = _positive(alpha_beta_gy, "α/β")
    return np.asarray(bed_gy, dtype=np.float64) / (1.0 + 2.0 / ab)


@dataclass(frozen=True)
class Scheme:
    """How a physical dose was delivered.

    Attributes
    ----------
    kind:
        ``"ebrt"`` (fractionated external beam), ``"hdr"`` (HDR brachytherapy
        fractions) or ``"sirt"`` (permanent microsphere implant).
    fractions:
        Number of fractions (``ebrt``, ``hdr``).
    nuclide:
        Nuclide name (``sirt``), e.g. ``"Y-90"`` or ``"Ho-166"``.
    half_life_h:
        Half-life (h) of the dose rate for ``sirt``; taken from the nuclide.
    """

    kind: Literal["ebrt", "hdr", "sirt"]
    fractions: int | None = None
    nuclide: str | None = None
    half_life_h: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in SCHEME_KINDS:
            raise InvalidInputError(f"Unknown treatment kind {self.kind!r}; choose from {', '.join(SCHEME_KINDS)}.")
        if self.kind in ("ebrt", "hdr") and (self.fractions is None or self.fractions < 1):
            raise InvalidInputError(f"A {self.kind} scheme needs a positive number of fractions.")
        if self.kind == "sirt" and (self.half_life_h is None or not self.half_life_h > 0):
            raise InvalidInputError("A sirt scheme needs the nuclide's half-life.")

    @classmethod
    def parse(cls, text: str) -> Scheme:
        """Parse the ``SCHEME`` syntax: ``sirt:NUCLIDE``, ``ebrt:FRACTIONS``, ``hdr:FRACTIONS``."""
        kind, _, arg = str(text).strip().partition(":")
        kind = kind.strip().lower()
        arg = arg.strip()
        if kind not in SCHEME_KINDS or not arg:
            raise InvalidInputError(
                f"Invalid treatment scheme {text!r}: use sirt:NUCLIDE (e.g. sirt:Y-90), ebrt:FRACTIONS "
                "(e.g. ebrt:5) or hdr:FRACTIONS (e.g. hdr:1)."
            )
        if kind == "sirt":
            from workstation.dosimetry.nuclides import get_nuclide

            nuc = get_nuclide(arg)
            return cls("sirt", nuclide=nuc.name, half_life_h=nuc.half_life_h)
        try:
            n = int(arg)
        except ValueError:
            raise InvalidInputError(
                f"Invalid treatment scheme {text!r}: the number of fractions {arg!r} is not an integer."
            ) from None
        return cls(kind, fractions=n)  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.kind == "sirt":
            return f"permanent implant {self.nuclide} (T1/2 {self.half_life_h:g} h)"
        label = "external beam" if self.kind == "ebrt" else "HDR brachytherapy"
        return f"{label}, {self.fractions} fraction{'s' if self.fractions != 1 else ''}"

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "fractions": self.fractions, "nuclide": self.nuclide,
                "half_life_h": self.half_life_h, "description": self.describe()}


def bed(dose_gy: Any, scheme: Scheme, alpha_beta_gy: Any, repair_half_time_h: Any = 1.5) -> np.ndarray:
    """BED (Gy) of a physical dose delivered by ``scheme`` (see the module docstring)."""
    if scheme.kind == "sirt":
        assert scheme.half_life_h is not None
        return bed_permanent_implant(dose_gy, scheme.half_life_h, alpha_beta_gy, repair_half_time_h)
    assert scheme.fractions is not None
    return bed_fractionated(dose_gy, scheme.fractions, alpha_beta_gy)


def eqd2(dose_gy: Any, scheme: Scheme, alpha_beta_gy: Any, repair_half_time_h: Any = 1.5) -> np.ndarray:
    """EQD2 (Gy) of a physical dose delivered by ``scheme``."""
    return eqd2_from_bed(bed(dose_gy, scheme, alpha_beta_gy, repair_half_time_h), alpha_beta_gy)


def physical_dose_for_eqd2(eqd2_gy: float, scheme: Scheme, alpha_beta_gy: float,
                           repair_half_time_h: float = 1.5) -> float:
    """The total physical dose (Gy) that gives ``eqd2_gy`` with ``scheme`` (inverse of :func:`eqd2`).

    Solves ``D + k D² = BED`` with ``k = 1/(n α/β)`` (fractionated) or
    ``λ/((μ+λ) α/β)`` (permanent implant).
    """
    target_bed = float(eqd2_gy) * (1.0 + 2.0 / float(alpha_beta_gy))
    if scheme.kind == "sirt":
        assert scheme.half_life_h is not None
        lam = math.log(2.0) / scheme.half_life_h
        mu = math.log(2.0) / float(repair_half_time_h)
        k = lam / ((mu + lam) * float(alpha_beta_gy))
    else:
        assert scheme.fractions is not None
        k = 1.0 / (scheme.fractions * float(alpha_beta_gy))
    return float((-1.0 + math.sqrt(1.0 + 4.0 * k * target_bed)) / (2.0 * k))


def _parameter_map(
    values: Mapping[str, float] | float,
    weights: Mapping[str, np.ndarray] | None,
    default: float,
    shape: tuple[int, ...],
) -> np.ndarray | float:
    """A per-voxel parameter: each structure's value where its weight is > 0.5, else ``default``."""
    if not isinstance(values, Mapping):
        return float(values)
    if not weights:
        return default
    out = np.full(shape, default, dtype=np.float64)
    for name, w in weights.items():
        if name in values:
            out[np.asarray(w) > 0.5] = float(values[name])
    return out


def eqd2_volume(
    dose: Volume,
    scheme: Scheme,
    alpha_beta_gy: float | np.ndarray = 10.0,
    repair_half_time_h: float | np.ndarray = 1.5,
) -> Volume:
    """EQD2 map (Gy) of a dose Volume; α/β and T_rep may be per-voxel arrays on its grid."""
    if dose.units not in (Unit.GY, Unit.UNKNOWN):
        raise InvalidInputError(f"EQD2 needs a dose in Gy, got {dose.units.value}.")
    arr = eqd2(dose.array, scheme, alpha_beta_gy, repair_half_time_h).astype(np.float32)
    out = dose.copy_with(array=arr, units=Unit.GY)
    out.metadata.series_description = f"EQD2 ({scheme.describe()})"
    out.metadata.extra["quantity"] = "EQD2"
    return out


@dataclass
class TreatmentDose:
    """One treatment's physical dose for :func:`eqd2_sum`.

    Attributes
    ----------
    name:
        Label (``NAME`` of ``--dose NAME=IMG:SCHEME``).
    dose:
        Physical dose (Gy) on its own grid.
    scheme:
        How it was delivered.
    transform:
        Optional SimpleITK transform mapping points of the reference (sum) grid's
        space to this dose's space (the ITK resampling convention of
        ``workstation register``); ``None`` when both share a frame of reference.
    """

    name: str
    dose: Volume
    scheme: Scheme
    transform: Any | None = None
    eqd2: Volume | None = field(default=None, repr=False)
    #: The physical dose on the reference grid of the last :func:`eqd2_sum` (Gy).
    physical_on_reference: Volume | None = field(default=None, repr=False)


def eqd2_sum(
    treatments: Sequence[TreatmentDose],
    reference: Volume,
    alpha_beta_gy: Mapping[str, float] | float = 10.0,
    repair_half_time_h: Mapping[str, float] | float = 1.5,
    structures: Mapping[str, np.ndarray] | None = None,
    default_tissue: str | TissueParameters = "tumour",
) -> tuple[Volume, list[Volume]]:
    """Sum of the treatments' EQD2 on ``reference``'s grid.

    Each physical dose is first resampled onto the reference grid (trilinear in
    patient space, through its transform when given), then converted to EQD2
    voxel by voxel with the α/β (and repair half-time) of the structure the
    voxel belongs to, and the EQD2 maps are added.

    Parameters
    ----------
    treatments:
        The doses and their schemes.
    reference:
        The grid of the sum (usually the planning CT).
    alpha_beta_gy, repair_half_time_h:
        One value for every voxel, or a mapping structure name → value used
        inside that structure (``structures``); elsewhere the default tissue's.
    structures:
        Structure name → voxel weights (0..1) on the reference grid; a voxel
        belongs to a structure where its weight is above 0.5 (the last listed
        wins where structures overlap).
    default_tissue:
        Tissue whose parameters apply outside every structure.

    Returns
    -------
    (Volume, list of Volume)
        The EQD2 sum and each treatment's EQD2 on the reference grid (Gy).
    """
    if not treatments:
        raise InvalidInputError("No dose to sum: give at least one treatment.")
    base = tissue(default_tissue)
    ab = _parameter_map(alpha_beta_gy, structures, base.alpha_beta_gy, reference.shape)
    trep = _parameter_map(repair_half_time_h, structures, base.repair_half_time_h, reference.shape)
    total = np.zeros(reference.shape, dtype=np.float64)
    parts: list[Volume] = []
    for t in treatments:
        if t.dose.units not in (Unit.GY, Unit.UNKNOWN):
            raise InvalidInputError(f"The dose {t.name!r} is not in Gy ({t.dose.units.value}).")
        on_ref = t.dose.resample_to(reference, "linear", fill_value=0.0, transform=t.transform,
                                    dtype=np.float32)
        t.physical_on_reference = on_ref
        arr = np.clip(np.asarray(on_ref.array, dtype=np.float64), 0.0, None)
        e = eqd2(arr, t.scheme, ab, trep)
        total += e
        part = reference.copy_with(array=e.astype(np.float32), units=Unit.GY, modality="RTDOSE",
                                   label_names={})
        part.metadata.series_description = f"EQD2 {t.name} ({t.scheme.describe()})"
        part.metadata.extra["quantity"] = "EQD2"
        t.eqd2 = part
        parts.append(part)
    out = reference.copy_with(array=total.astype(np.float32), units=Unit.GY, modality="RTDOSE",
                              label_names={})
    out.metadata.series_description = "EQD2 sum of " + ", ".join(t.name for t in treatments)
    out.metadata.extra["quantity"] = "EQD2"
    return out, parts
