"""Conventions of the sample ground truth (densities, nuclide data not owned by dosimetry).

90Y data (half-life, LDM factor) come from :mod:`workstation.dosimetry.nuclides`,
their one home; only what that module does not hold is here.
"""

from __future__ import annotations

# The ground truth uses the project's densities (one home: core/constants.py):
# 1.03 g/mL for liver, tumour and all non-lung tissue, 0.30 g/mL for lung.
from workstation.core.constants import LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML  # noqa: E402, F401

#: 99mTc half-life (h). Source: ENSDF via NNDC NuDat 3, T1/2 = 6.0067(10) h.
TC99M_HALF_LIFE_H: float = 6.0067

DENSITY_SOURCES: dict[str, str] = {
    "soft_tissue_1.03": "90Y device convention for liver mass (TheraSphere IFU, 1.03 g/cc); "
    "ICRP Publication 89 liver 1.05 g/cm3",
    "lung_0.30": "inflated lung, ICRU Report 46 (0.26 g/cm3) to ICRP Publication 89 with blood; rounded",
    "tc99m_half_life": "ENSDF/NNDC NuDat 3: 6.0067 h",
}
