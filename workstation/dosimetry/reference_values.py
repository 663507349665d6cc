"""Published reference values used to validate the physics (tests and ``workstation qa``).

One home for every published number the project checks itself against.
"""

from __future__ import annotations

__all__ = [
    "LANCONELLI_2012_SOURCE",
    "LANCONELLI_2012_DENSITY_G_PER_ML",
    "LANCONELLI_2012_Y90_SOFT",
    "HASHEMPOUR_2019_SOURCE",
    "Y90_SPHERE_ABSORBED_FRACTIONS",
]

#: Source of :data:`LANCONELLI_2012_Y90_SOFT`.
LANCONELLI_2012_SOURCE: str = (
    "Lanconelli N, Pacilio M, Lo Meo S, et al. A free database of radionuclide voxel S values for "
    "the dosimetry of nonuniform activity distributions. Phys Med Biol 57:517-533 (2012), "
    "doi:10.1088/0031-9155/57/2/517; database files 90Y<size>mmsoft.txt (as redistributed in the "
    "MIT-licensed MGHPhysicsResearch/MIRDCalculation, MIRD/VoxelSValues/)"
)
#: Medium of the database: ICRP soft tissue (g/mL).
LANCONELLI_2012_DENSITY_G_PER_ML: float = 1.04

#: Published 90Y voxel S-values in soft tissue, mGy/(MBq·s), by cubic voxel edge (mm).
#: Columns: target voxel (0,0,0), (0,0,1), (0,1,1), (1,1,1) relative to the source voxel.
LANCONELLI_2012_Y90_SOFT: dict[float, tuple[float, float, float, float]] = {
    2.33: (2.69, 0.505, 0.197, 0.102),
    3.0: (1.59, 0.275, 0.0950, 0.0429),
    4.0: (0.858, 0.129, 0.0362, 0.0127),
    4.42: (0.689, 0.0973, 0.0248, 0.00778),
    4.8: (0.573, 0.0763, 0.0178, 0.00507),
    6.0: (0.342, 0.0380, 0.00686, 0.00145),
    9.28: (0.117, 0.00853, 0.000909, 0.000110),
}

#: Source of :data:`Y90_SPHERE_ABSORBED_FRACTIONS`.
HASHEMPOUR_2019_SOURCE: str = (
    "Hashempour M, Ghorbani M, Amato E, Knaup C. Effect of beta particles spectrum on absorbed fraction "
    "in internal radiotherapy. Asia Ocean J Nucl Med Biol 7 (2019), doi:10.22038/AOJNMB.2018.11610, "
    "PMC6352054: table 'Absorbed fractions for 90Y radionuclide in this study and from previous studies', "
    "rows 'By spectral beta energy' (values of Akabani et al. and of Amato et al. as cited there, and the "
    "authors' own MCNPX values in soft tissue)"
)

#: Published self-absorbed fractions of 90Y (full beta spectrum) uniformly distributed in
#: spheres, by sphere radius (cm): (sphere mass in g as tabulated, i.e. unit density;
#: the earlier study's value; which earlier study; Hashempour et al.'s MCNPX value).
#: The values are printed with two decimals.
Y90_SPHERE_ABSORBED_FRACTIONS: dict[float, tuple[float, float, str, float]] = {
    0.10: (0.004, 0.17, "Akabani et al.", 0.16),
    0.25: (0.065, 0.39, "Akabani et al.", 0.36),
    1.00: (4.0, 0.80, "Akabani et al.", 0.75),
    1.33: (10.0, 0.85, "Amato et al.", 0.80),
    1.68: (20.0, 0.88, "Amato et al.", 0.90),
    2.87: (100.0, 0.93, "Amato et al.", 0.94),
}
