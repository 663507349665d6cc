"""Nuclide data for SIRT dosimetry: one home for every number, with unit and source.

Only 90Y is supported (the microspheres of resin and glass SIRT). Every value
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

__all__ = ["Nuclide", "Y90", "get_nuclide", "LDM_FACTOR_OPTIONS", "ldm_factor_from_physics"]


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
    sources:
        Bibliographic source of each number.
    """

    name: str
    half_life_h: float
    mean_beta_energy_mev: float
    ldm_gy_kg_per_gbq: float
    kernel_file: str
    kernel_half_life_h: float
    sources: tuple[str, ...]

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
)

#: Accepted LDM factors (Gy kg/GBq), see the module docstring.
LDM_FACTOR_OPTIONS: tuple[float, ...] = (49.67, 49.38, 50.0)

_ALIASES = {"y-90": Y90, "y90": Y90, "90y": Y90, "yttrium-90": Y90, "yttrium90": Y90}


def get_nuclide(name: str | Nuclide) -> Nuclide:
    """Look up a nuclide by name (``"Y-90"``, ``"Y90"``, ``"90Y"``, case-insensitive).

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
        f"Unknown nuclide {name!r}: only Y-90 is supported for SIRT dosimetry."
    )
