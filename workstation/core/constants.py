"""Physical constants used across the project: one home, each with unit and source.

Nuclide data (half-lives, energies, dose factors) live in
:mod:`workstation.dosimetry.nuclides`; only general constants are here.
"""

from __future__ import annotations

__all__ = ["MEV_TO_J", "J_PER_MEV", "WATER_DENSITY_G_PER_ML", "SECONDS_PER_HOUR", "CONSTANT_SOURCES"]

#: Joules per mega-electronvolt (J/MeV). Source: CODATA 2018, e = 1.602176634e-19 C (exact).
MEV_TO_J: float = 1.602176634e-13
J_PER_MEV: float = MEV_TO_J

#: Density of water and of soft tissue for LDM conventions (g/mL). Source: ICRU Report 44 (1989).
WATER_DENSITY_G_PER_ML: float = 1.0

#: Seconds per hour (s/h), by definition.
SECONDS_PER_HOUR: float = 3600.0

CONSTANT_SOURCES: dict[str, str] = {
    "MEV_TO_J": "CODATA 2018: elementary charge 1.602176634e-19 C (exact, SI 2019)",
    "WATER_DENSITY_G_PER_ML": "ICRU Report 44 (1989), water 1.000 g/cm3",
}
