"""CT number (HU) to mass density (g/mL).

Calibration: the piecewise-linear HU-to-density table of Schneider W, Bortfeld T,
Schlegel W, *Correlation between CT numbers and tissue parameters needed for
Monte Carlo simulations of clinical dose distributions*, Phys Med Biol
45:459-478 (2000), as tabulated for Monte Carlo codes (GATE
``Schneider2000DensitiesTable.txt``): air at -1000 HU, adipose/soft tissue
segments, and bone up to 3000 HU. Values outside the table are clamped to its
end points. A scanner-specific calibration can be given instead as two arrays.
"""

from __future__ import annotations

import numpy as np

from workstation.core.errors import InvalidInputError, UnitError
from workstation.core.volume import Unit, Volume

__all__ = [
    "SCHNEIDER2000_HU",
    "SCHNEIDER2000_DENSITY_G_PER_ML",
    "SOFT_TISSUE_DENSITY_G_PER_ML",
    "LUNG_DENSITY_G_PER_ML",
    "hu_to_density",
    "density_volume",
]

# Soft-tissue and lung densities have one home, core/constants.py (with their sources).
from workstation.core.constants import LUNG_DENSITY_G_PER_ML, SOFT_TISSUE_DENSITY_G_PER_ML  # noqa: E402

#: CT numbers (HU) of the calibration points (Schneider et al. 2000, PMB 45:459).
SCHNEIDER2000_HU: tuple[float, ...] = (-1000.0, -98.0, -97.0, 14.0, 23.0, 100.0, 101.0, 1600.0, 3000.0)
#: Mass densities (g/mL) at those points (Schneider et al. 2000, PMB 45:459).
SCHNEIDER2000_DENSITY_G_PER_ML: tuple[float, ...] = (
    0.00121, 0.93, 0.930486, 1.03, 1.031, 1.1199, 1.0762, 1.9642, 2.8,
)
CALIBRATION_SOURCE = (
    "Schneider W, Bortfeld T, Schlegel W. Phys Med Biol 45:459 (2000), HU-density table "
    "as used by GATE (Schneider2000DensitiesTable)"
)


def hu_to_density(
    hu: np.ndarray,
    calibration_hu: np.ndarray | tuple[float, ...] = SCHNEIDER2000_HU,
    calibration_density: np.ndarray | tuple[float, ...] = SCHNEIDER2000_DENSITY_G_PER_ML,
) -> np.ndarray:
    """Mass density (g/mL, float32) of CT numbers ``hu`` by piecewise-linear interpolation."""
    xp = np.asarray(calibration_hu, dtype=float)
    fp = np.asarray(calibration_density, dtype=float)
    if xp.shape != fp.shape or xp.ndim != 1 or len(xp) < 2 or np.any(np.diff(xp) < 0):
        raise InvalidInputError(
            "The HU-density calibration must be two equally long 1D lists with increasing HU."
        )
    return np.interp(np.asarray(hu, dtype=np.float32), xp, fp).astype(np.float32)


def density_volume(ct: Volume, reference: Volume | None = None) -> Volume:
    """Density map (g/mL) of a CT volume, optionally resampled (linear, in HU) onto ``reference``.

    Voxels of the reference outside the CT get air (-1000 HU).
    """
    if ct.units not in (Unit.HU, Unit.UNKNOWN):
        raise UnitError(
            f"The CT image must be in HU to derive densities, but its units are {ct.units.value}."
        )
    src = ct if reference is None else ct.resample_to(reference, "linear", fill_value=-1000.0)
    return src.copy_with(array=hu_to_density(src.array), units=Unit.G_PER_ML)
