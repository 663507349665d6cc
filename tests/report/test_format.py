"""Numbers formatted for their meaning: fixed clinical resolution, never ``e`` notation."""

from __future__ import annotations

import math

import pytest

from workstation.report import (
    format_dose_gy,
    format_fraction_percent,
    format_length_mm,
    format_number,
    format_percent,
    format_volume_ml,
    humanize_key,
    key_value_rows,
    short_uid,
)
from workstation.report._format import is_uid, number_like


@pytest.mark.parametrize(("value", "text"), [
    (418.7, "418.7"), (418.74, "418.7"), (418.76, "418.8"), (0.05, "0.1"), (0.0499, "< 0.1"),
    (0.0, "< 0.1"), (3.425e-5, "< 0.1"), (None, "–"), (float("nan"), "–"), (12, "12.0"),
])
def test_doses_to_a_tenth_of_a_gray(value, text) -> None:
    assert format_dose_gy(value) == text


def test_volumes_percentages_lengths() -> None:
    assert format_volume_ml(1310.928) == "1310.9"
    assert format_volume_ml(0.0) == "0.0" and format_volume_ml(0.01) == "< 0.1"
    assert format_percent(99.59) == "99.6" and format_percent(0.0) == "0.0" and format_percent(0.0003905) == "< 0.1"
    assert format_fraction_percent(0.06) == "6.0" and format_fraction_percent(1.113e-6) == "< 0.1"
    assert format_length_mm(-0.04) == "0.0" and format_length_mm(-1.26) == "-1.3" and format_length_mm(3.25) == "3.2"


def test_format_number_never_uses_e_notation() -> None:
    assert format_number(None) == "–"
    assert format_number(float("nan")) == "–"
    assert format_number(49.67) == "49.67"
    assert format_number(3) == "3"
    assert format_number(248778.929) == "248779"  # more integer digits than significant ones
    assert format_number(1.602176634e-13) == "1.602 × 10⁻¹³"
    assert format_number(0.000012345) in ("1.234 × 10⁻⁵", "1.235 × 10⁻⁵")
    assert format_number(2.5e9) == "2.5 × 10⁹"
    assert format_number(0.0002) == "0.0002"  # a QA residual stays a plain decimal
    for v in (1e-30, 3.3e-4, 0.0012, 1.0, 12345.678, 9.99e6, 1e7, 6.02e23, -4.2e-8):
        assert "e" not in format_number(v) and number_like(format_number(v))
    assert format_number(math.inf) == "∞"


def test_keys_become_labels_with_units() -> None:
    assert humanize_key("total_in_image_gbq") == ("Total in image", "GBq", 1.0)
    assert humanize_key("lung_shunt_fraction") == ("Lung shunt", "%", 100.0)
    assert humanize_key("psf_fwhm_mm")[:2] == ("PSF FWHM", "mm")
    assert humanize_key("ldm_gy_kg_per_gbq")[0] == "LDM factor"
    rows = key_value_rows({"administered_gbq": 2.0, "lung_shunt_fraction": 0.06, "calibration": "administered",
                           "negative_activity_fraction": 3.425e-5, "nested": {"a": 1}, "list_mm": [1.0, 2.0]})
    assert rows == [["Administered (GBq)", "2.000"], ["Lung shunt (%)", "6.0"], ["Calibration", "administered"],
                    ["Negative activity (%)", "< 0.1"], ["List (mm)", "1.0, 2.0"]]
    assert key_value_rows({"half_life_h": 64.053}, precise=True) == [["Half life (h)", "64.053"]]


def test_uids_are_recognised_and_shortened() -> None:
    uid = "1.2.826.0.1.3680043.8.498.59023094765360179337137280881626607060"
    assert is_uid(uid) and not is_uid("1.2.3") and not is_uid("1310.928") and not is_uid("sample_data/ct")
    assert short_uid(uid) == "1.2.826.0.1.…607060" and len(short_uid(uid)) < 20
    assert short_uid("1.2.3") == "1.2.3"
