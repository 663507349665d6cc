"""RegistrationSettings: frozen, validated, reported; keyword arguments override it; old names warn."""

from __future__ import annotations

import dataclasses

import pytest

import workstation.registration as registration
from workstation.core import InvalidInputError
from workstation.registration import DEFAULT_SETTINGS, RegistrationSettings, register


def test_settings_are_frozen_and_replaceable():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_SETTINGS.grid_spacing_mm = 40.0  # type: ignore[misc]
    finer = dataclasses.replace(DEFAULT_SETTINGS, grid_spacing_mm=40.0)
    assert finer.grid_spacing_mm == 40.0 and DEFAULT_SETTINGS.grid_spacing_mm == 60.0
    assert finer.with_iterations({"rigid": 7}).iterations == {"rigid": 7, "affine": 200, "deformable": 50}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"working_spacing_mm": 0.0}, "must be positive"),
        ({"same_frame_bound_mm": -3.0}, "same_frame_bound_mm must be positive"),
        ({"rigid_blend_mm": -1.0}, "rigid_blend_mm must not be negative"),
        ({"samples_linear": (5000,)}, "samples_linear must be two sample counts"),
        ({"samples_bspline": 0}, "samples_bspline must be at least 1"),
        ({"samples_linear_before_bspline": 0}, "samples_linear_before_bspline must be at least 1"),
        ({"linear_coarse_min_step_mm": 0.0}, "both above 0"),
        ({"linear_coarse_min_step_mm": 5.0}, "linear_step_mm above linear_min_step_mm and linear_coarse"),
        ({"shrink_factors": ()}, "shrink_factors must be shrink factors"),
    ],
)
def test_invalid_settings_name_the_field(changes, message):
    with pytest.raises(InvalidInputError, match=message):
        RegistrationSettings(**changes)


def test_unknown_iteration_stage():
    with pytest.raises(InvalidInputError, match="Unknown iteration stage"):
        DEFAULT_SETTINGS.with_iterations({"bspline": 3})


@pytest.mark.parametrize(
    ("name", "field"),
    [("DEFAULT_GRID_SPACING_MM", "grid_spacing_mm"), ("EXCLUDE_MARGIN_MM", "exclude_margin_mm"),
     ("RIGID_BLEND_MM", "rigid_blend_mm"), ("DEFAULT_SAME_FRAME_BOUND_MM", "same_frame_bound_mm")],
)
def test_old_constant_names_are_deprecated_aliases(name, field):
    with pytest.warns(DeprecationWarning, match=f"DEFAULT_SETTINGS.{field}"):
        value = getattr(registration, name)
    assert value == getattr(DEFAULT_SETTINGS, field)
    with pytest.raises(AttributeError):
        registration.NO_SUCH_CONSTANT  # noqa: B018


def test_register_uses_settings_and_keywords_override_them(rigid_pair):
    settings = dataclasses.replace(DEFAULT_SETTINGS, iterations_rigid=3, working_spacing_mm=4.0, seed=5)
    result = register(rigid_pair.fixed, rigid_pair.moving, mode="rigid", inverse_consistency=False,
                      number_of_threads=2, settings=settings, iterations={"rigid": 2})
    params = result.report["parameters"]
    assert params["max_iterations_per_level"]["rigid"] == 2  # the keyword wins over the settings
    assert params["working_spacing_mm"] == 4.0 and params["seed"] == 5  # the rest from the settings
    assert params["settings"]["iterations_rigid"] == 2 and params["settings"]["working_spacing_mm"] == 4.0
    assert max(result.report["stages"][0]["iterations_per_level"]) <= 2
