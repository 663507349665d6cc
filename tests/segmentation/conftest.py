"""Session fixtures: the synthetic phantoms (built once, a few seconds each) and segmentations reused by several tests."""

from __future__ import annotations

import pytest

from tests.segmentation.phantoms import Phantom, build_abdomen, build_ablation_ct
from workstation.core import Volume


@pytest.fixture(scope="session")
def abdomen() -> Phantom:
    return build_abdomen()


@pytest.fixture(scope="session")
def ablation_ct() -> Phantom:
    return build_ablation_ct()


@pytest.fixture(scope="session")
def body_seg(abdomen: Phantom) -> Volume:
    from workstation.segmentation import segment_body

    return segment_body(abdomen.ct)


@pytest.fixture(scope="session")
def lungs_seg(abdomen: Phantom, body_seg: Volume) -> Volume:
    from workstation.segmentation import segment_lungs

    return segment_lungs(abdomen.ct, body=body_seg)


@pytest.fixture(scope="session")
def liver_auto(abdomen: Phantom, body_seg: Volume, lungs_seg: Volume) -> Volume:
    from workstation.segmentation import segment_liver

    return segment_liver(abdomen.ct, body=body_seg, lungs=lungs_seg)


@pytest.fixture(scope="session")
def portal_ct():
    """The realistic abdomen CT in the portal-venous phase (tests/segmentation/realistic.py), about 3 s."""
    from tests.segmentation.realistic import build_realistic_ct

    return build_realistic_ct("portal")


@pytest.fixture(scope="session")
def lowdose_ct():
    """The realistic abdomen as the low-dose non-contrast CT of a SPECT/CT."""
    from tests.segmentation.realistic import build_realistic_ct

    return build_realistic_ct("lowdose")


@pytest.fixture(scope="session")
def portal_liver_auto(portal_ct):
    from workstation.segmentation import segment_liver

    return segment_liver(portal_ct.ct)
