"""Ribs that a smooth liver boundary takes in at the capsule leave the mask; enclosed lipiodol stays.

Found on the real HCC_048 CT (portal venous): the liver mask cut through three ribs at
the lateral capsule, whose cortex the TACE analysis then counted as lipiodol.
"""

from __future__ import annotations

import numpy as np

from workstation.segmentation.liver import BONE_HU, _without_edge_bone


def test_rib_across_the_capsule_leaves_and_enclosed_deposit_stays() -> None:
    rng = np.random.default_rng(11)
    shape = (30, 80, 80)
    z, y, x = np.indices(shape)
    hu = rng.normal(110.0, 15.0, shape)  # enhanced parenchyma and surroundings
    liver = (x < 50) & (y > 10) & (y < 70)  # capsule at x = 50
    # a rib running along z, centred on the capsule: cortex ring > 400 HU, marrow ~250 HU
    r = np.hypot(y - 40, x - 51)
    hu[r <= 4] = 250.0
    hu[(r > 2.5) & (r <= 4)] = 700.0
    # a lipiodol deposit well inside the liver (enclosed): 600 HU
    deposit = np.hypot(np.hypot(z - 15, y - 30), x - 25) <= 4
    hu[deposit] = 600.0
    out = _without_edge_bone(hu, liver)
    rib = r <= 4
    assert not (out & rib & (hu > BONE_HU)).any()  # no cortex left in the liver
    assert not (out & rib).any()  # marrow and rim gone too
    assert out[deposit].all()  # enclosed deposit kept
    # nothing else changed: only the rib's voxels (and its rim within 3 voxels) left the mask
    changed = liver & ~out
    assert changed.sum() <= (liver & (r <= 7)).sum()
