"""Physical constants used across the project: one home, each with unit and source.

Nuclide data (half-lives, energies, dose factors) live in
:mod:`workstation.dosimetry.nuclides`; only general constants are here.
"""

from __future__ import annotations

__all__ = [
    "MEV_TO_J",
    "J_PER_MEV",
    "WATER_DENSITY_G_PER_ML",
    "SOFT_TISSUE_DENSITY_G_PER_ML",
    "LUNG_DENSITY_G_PER_ML",
    "SECONDS_PER_HOUR",
    "CONSTANT_SOURCES",
]

#: Joules per mega-electronvolt (J/MeV). Source: CODATA 2018, e = 1.602176634e-19 C (exact).
MEV_TO_J: float = 1.602176634e-13
J_PER_MEV: float = MEV_TO_J

#: Density of water (g/mL), the medium of the dose point kernel. Source: ICRU Report 44 (1989).
WATER_DENSITY_G_PER_ML: float = 1.0

#: Density of liver / soft tissue used for voxel and ROI masses without CT (g/mL):
#: 1.03 g/mL, the 90Y device convention for liver mass (TheraSphere instructions
#: for use, "1.03 g/cc"; AAPM Report 144, Dezarn et al., Med Phys 38:4824, 2011),
#: close to ICRP Publication 89 reference liver (1.05 g/cm3).
SOFT_TISSUE_DENSITY_G_PER_ML: float = 1.03

#: Density of lung parenchyma without CT (g/mL): inflated lung 0.26 g/cm3 (ICRU Report
#: 46, 1992), about 0.3 g/mL with blood (ICRP Publication 89); rounded.
LUNG_DENSITY_G_PER_ML: float = 0.30

#: Seconds per hour (s/h), by definition.
SECONDS_PER_HOUR: float = 3600.0

CONSTANT_SOURCES: dict[str, str] = {
    "MEV_TO_J": "CODATA 2018: elementary charge 1.602176634e-19 C (exact, SI 2019)",
    "WATER_DENSITY_G_PER_ML": "ICRU Report 44 (1989), water 1.000 g/cm3",
    "SOFT_TISSUE_DENSITY_G_PER_ML": "TheraSphere IFU 1.03 g/cc; AAPM Report 144 (Dezarn et al. 2011)",
    "LUNG_DENSITY_G_PER_ML": "ICRU Report 46 (1992) inflated lung 0.26 g/cm3, with blood ~0.3",
}
