"""Nuclide data for SIRT dosimetry: one home for every number, with unit and source.

90Y (resin and glass microspheres) and 166Ho (poly-L-lactic acid microspheres,
QuiremSpheres) are supported; the nuclide is chosen per study. Every value
below is copied into ``results.json["constants"]`` by :func:`Nuclide.constants`.

Local-deposition (LDM) factor
-----------------------------
For a permanent implant the number of decays per becquerel is the mean life
``tau = T1/2 / ln 2``; the absorbed dose when all emitted energy is absorbed in
a mass ``M`` is ``D = A0 * tau * E_mean / M``. Per GBq and per kg::

    f = 1e9 [Bq/GBq] * tau [s] * E_mean [MeV] * 1.602176634e-13 [J/MeV]   (Gy kg / GBq)

* 49.67 Gy kg/GBq, the clinical convention (default), is obtained with
  T1/2 = 64.0 h and E_mean = 0.9327 MeV (ICRP Publication 107, 2008):
  (64.0 * 3600 / ln 2) * 1e9 * 0.9327 * 1.602176634e-13 = 49.67.
* 49.38 Gy kg/GBq (T1/2 = 64.04 h, E_mean = 0.9267 MeV) is the factor of the
  AAPM Report 144 (Dezarn et al., Med Phys 38:4824, 2011) and of the
  TheraSphere package insert formula "D = A * 49.38 / M" in some editions.
* 50 Gy kg/GBq is the rounded factor of the TheraSphere (glass) instructions
  for use ("D[Gy] = 50 * A[GBq] * (1 - LSF) / M[kg]").

The kernel of Graves et al. (2019) deposits 0.9336 MeV per decay in total; with
T1/2 = 64.053 h (ENSDF/NNDC) it would give 49.76 Gy kg/GBq. All dose engines of
this package use the *same* energy per decay, the one implied by the chosen LDM
factor, so that they differ only in how they distribute it in space
(:func:`Nuclide.energy_per_decay_mev_for_ldm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workstation.core.constants import MEV_TO_J, SECONDS_PER_HOUR
from workstation.core.errors import InvalidInputError

__all__ = [
    "Nuclide",
    "Y90",
    "HO166",
    "NUCLIDES",
    "get_nuclide",
    "LDM_FACTOR_OPTIONS",
    "ldm_factor_from_physics",
    "HO166_PLANNING",
]

_GRAVES_2019 = "Graves SA, Flynn RT, Hyer DE. Med Phys 46:5284 (2019), doi:10.1002/mp.13789"


def ldm_factor_from_physics(half_life_h: float, mean_energy_mev: float) -> float:
    """Local-deposition factor (Gy kg/GBq) for complete decay.

    Parameters
    ----------
    half_life_h:
        Physical half-life in hours.
    mean_energy_mev:
        Energy absorbed per decay in MeV.
    """
    tau_s = half_life_h * SECONDS_PER_HOUR / math.log(2.0)
    return 1e9 * tau_s * mean_energy_mev * MEV_TO_J


@dataclass(frozen=True)
class Nuclide:
    """A therapy nuclide and its sourced constants.

    Attributes
    ----------
    name:
        Project notation, e.g. ``"Y-90"``.
    half_life_h:
        Physical half-life (h).
    mean_beta_energy_mev:
        Mean beta (electron) energy emitted per decay (MeV).
    ldm_gy_kg_per_gbq:
        Default local-deposition factor (Gy kg/GBq).
    kernel_file:
        Dose point kernel file in ``dosimetry/data``.
    kernel_half_life_h:
        Half-life the kernel file was made with (h).
    sources:
        Bibliographic source of each number.
    icrp107_mean_beta_energy_mev:
        Mean beta-minus energy per decay of the ICRP-107 discrete table (MeV); it
        normalises the beta spectrum in :mod:`.kernel_model`.
    kernel_source:
        Citation of the dose point kernel.
    """

    name: str
    half_life_h: float
    mean_beta_energy_mev: float
    ldm_gy_kg_per_gbq: float
    kernel_file: str
    kernel_half_life_h: float
    sources: tuple[str, ...]
    icrp107_mean_beta_energy_mev: float = 0.0
    kernel_source: str = _GRAVES_2019

    @property
    def half_life_s(self) -> float:
        """Half-life in seconds."""
        return self.half_life_h * SECONDS_PER_HOUR

    @property
    def decay_constant_per_s(self) -> float:
        """Decay constant lambda = ln 2 / T1/2 (1/s)."""
        return math.log(2.0) / self.half_life_s

    @property
    def mean_life_s(self) -> float:
        """Mean life tau = T1/2 / ln 2 (s): decays per becquerel for complete decay."""
        return self.half_life_s / math.log(2.0)

    def energy_per_decay_mev_for_ldm(self, ldm_gy_kg_per_gbq: float | None = None) -> float:
        """Energy per decay (MeV) that makes ``A * tau * E / M`` equal the LDM factor.

        All engines deposit this energy per decay (see the module docstring).
        """
        f = self.ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
        return f / (1e9 * self.mean_life_s * MEV_TO_J)

    def decay_factor(self, elapsed_s: float) -> float:
        """Fraction of activity remaining after ``elapsed_s`` seconds, exp(-lambda t)."""
        return math.exp(-self.decay_constant_per_s * elapsed_s)

    def constants(self, ldm_gy_kg_per_gbq: float | None = None) -> dict[str, object]:
        """The ``constants`` block of results.json."""
        f = self.ldm_gy_kg_per_gbq if ldm_gy_kg_per_gbq is None else ldm_gy_kg_per_gbq
        return {
            "nuclide": self.name,
            "half_life_h": self.half_life_h,
            "mean_energy_mev": self.mean_beta_energy_mev,
            "ldm_gy_kg_per_gbq": f,
            "energy_per_decay_used_mev": self.energy_per_decay_mev_for_ldm(f),
            "mean_life_s": self.mean_life_s,
            "kernel": self.kernel_file,
            "kernel_source": self.kernel_source,
            "kernel_half_life_h": self.kernel_half_life_h,
            "mev_to_j": MEV_TO_J,
            "sources": list(self.sources),
        }


#: 90Y. Half-life 64.053 h (ENSDF, NNDC NuDat 3: 64.053(20) h); the Graves
#: kernel file is labelled 64.10 h (its source decay data). Mean beta energy
#: 0.9336 MeV/decay = sum of the energy column of the Graves et al. (2019) kernel
#: (ICRP Publication 107 lists 0.9327 MeV). LDM factor 49.67 Gy kg/GBq: see module
#: docstring.
Y90 = Nuclide(
    name="Y-90",
    half_life_h=64.053,
    mean_beta_energy_mev=0.9336,
    ldm_gy_kg_per_gbq=49.67,
    kernel_file="Y90_dose_point_kernel_graves2019.csv",
    kernel_half_life_h=64.10,
    sources=(
        "half_life_h: ENSDF evaluated decay data via NNDC NuDat 3, 90Y T1/2 = 64.053(20) h",
        "mean_energy_mev: Graves SA, Flynn RT, Hyer DE, Med Phys 46:5284 (2019), doi:10.1002/mp.13789, "
        "90Y kernel energy sum 0.9336 MeV/decay (ICRP Publication 107 (2008): 0.9327 MeV)",
        "ldm_gy_kg_per_gbq 49.67: T1/2 64.0 h x E 0.9327 MeV (ICRP 107), clinical convention; "
        "alternatives 49.38 (AAPM Report 144, Dezarn et al. Med Phys 38:4824, 2011) and 50 "
        "(TheraSphere instructions for use)",
        "dose point kernel: Graves et al. 2019 (Zenodo 2564036, file 90Y_64.10H_beta)",
        "MeV to J: CODATA 2018 (exact)",
    ),
    icrp107_mean_beta_energy_mev=0.93290,
)

#: 166Ho. Half-life 26.80 h and mean beta energy 0.6650 MeV per decay: ICRP Publication 107
#: (2008) (sum of its discrete beta-minus table; endpoints 1.774 MeV (48.7 %) and 1.855 MeV
#: (50.0 %), as quoted by the EANM guideline, Weber M et al., Eur J Nucl Med Mol Imaging
#: 49:1682, 2022). Conversion and Auger electrons add 0.0284 + 0.0029 MeV; photons 0.030 MeV
#: (80.6 keV, 6.7 %). LDM factor 15.87 Gy kg/GBq = 15.87 mJ/MBq, the energy absorbed per MBq
#: used by UMC Utrecht for 166Ho microspheres (J Nucl Med 57 Suppl 2:199, 2016), consistent
#: with the 166Ho activity rule A[MBq] = 3780 x M[kg] for 60 Gy (60/3.78 = 15.87); it
#: implies 0.7116 MeV absorbed per decay with T1/2 = 26.80 h: all electrons (0.6963 MeV) and
#: about half of the photon energy.
HO166 = Nuclide(
    name="Ho-166",
    half_life_h=26.80,
    mean_beta_energy_mev=0.6650,
    ldm_gy_kg_per_gbq=15.87,
    kernel_file="Ho166_dose_point_kernel_scaled.csv",
    kernel_half_life_h=26.80,
    sources=(
        "half_life_h and mean_energy_mev: ICRP Publication 107 (2008), Ann ICRP 38(3): 166Ho T1/2 26.80 h, "
        "mean beta energy 0.6650 MeV (as tabulated by the icrp107-database package, OpenGATE)",
        "ldm_gy_kg_per_gbq 15.87 (= 15.87 mJ/MBq absorbed, J Nucl Med 57 Suppl 2:199 (2016), UMC Utrecht); "
        "60 Gy rule A[MBq] = liver mass [kg] x 3780 (van Roekel C, PhD thesis, Utrecht University 2021)",
        "dose point kernel: scaled-kernel model from the ICRP-107 166Ho beta and conversion-electron spectra, "
        "Berger's scaling (MIRD Pamphlet 7, J Nucl Med 12 Suppl 5:5, 1971) with the Katz-Penfold range "
        "(Rev Mod Phys 24:28, 1952), calibrated on the Graves et al. 2019 90Y kernel "
        "(workstation.dosimetry.kernel_model); NOT the Graves 166Ho file",
        "MeV to J: CODATA 2018 (exact)",
    ),
    icrp107_mean_beta_energy_mev=0.66499,
    kernel_source="scaled-kernel model (Berger 1971; Katz & Penfold 1952) of the ICRP-107 166Ho electron "
    "spectra, calibrated on " + _GRAVES_2019 + " (90Y); see workstation.dosimetry.kernel_model",
)

#: Every supported nuclide by name.
NUCLIDES: dict[str, Nuclide] = {"Y-90": Y90, "Ho-166": HO166}

#: Published 166Ho microsphere planning values (QuiremSpheres), each with its source.
HO166_PLANNING: dict[str, tuple[float, str, str]] = {
    "scout_activity_mbq": (
        250.0, "MBq",
        "166Ho scout dose of 200-250 MBq (60 mg microspheres) instead of 99mTc-MAA (van Roekel C, PhD thesis, "
        "Utrecht University 2021, chapter 2)",
    ),
    "whole_liver_target_gy": (
        60.0, "Gy",
        "treatment activity for a 60 Gy mean absorbed dose to the treated liver, A[MBq] = 3780 x M[kg] "
        "(van Roekel C, PhD thesis, Utrecht University 2021: the activity rule of the HEPAR studies)",
    ),
    "lung_single_gy": (
        30.0, "Gy",
        "lung dose <= 30 Gy per treatment, 50 Gy cumulative: the radioembolization convention also applied "
        "to 166Ho (van Roekel C, PhD thesis, Utrecht 2021)",
    ),
}

#: Accepted LDM factors (Gy kg/GBq), see the module docstring.
LDM_FACTOR_OPTIONS: tuple[float, ...] = (49.67, 49.38, 50.0)

_ALIASES = {
    "y-90": Y90, "y90": Y90, "90y": Y90, "yttrium-90": Y90, "yttrium90": Y90,
    "ho-166": HO166, "ho166": HO166, "166ho": HO166, "holmium-166": HO166, "holmium166": HO166,
}


def get_nuclide(name: str | Nuclide) -> Nuclide:
    """Look up a nuclide by name (``"Y-90"``, ``"Y90"``, ``"90Y"``, ``"Ho-166"``, …, case-insensitive).

    Raises
    ------
    InvalidInputError
        For a nuclide this package has no data for.
    """
    if isinstance(name, Nuclide):
        return name
    key = str(name).strip().lower().replace(" ", "").replace("_", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidInputError(
        f"Unknown nuclide {name!r}: SIRT dosimetry supports {', '.join(NUCLIDES)}."
    )
