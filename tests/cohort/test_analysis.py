"""Dose-response and margin-outcome statistics against data drawn from known models."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from workstation.cohort import dose_response, margin_outcome
from workstation.cohort.analysis import _bootstrap_auc, _cox, _logistic
from workstation.samples._cohort import DOSE_RESPONSE, MARGIN_PROGRESSION, DoseResponseModel


def _lesions(n: int, seed: int, model: DoseResponseModel = DOSE_RESPONSE) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dose = rng.uniform(20.0, 320.0, n)
    return pd.DataFrame({"id": [f"P{i // 3:03d}" for i in range(n)], "lesion": [f"lesions_{i % 3 + 1}" for i in range(n)],
                         "method": "ldm", "status": "done", "mean_gy": dose,
                         "response": pd.array(model.draw(dose, rng), dtype="Int64")})


def _inside(entry: dict, value: float) -> bool:
    lo, hi = entry["ci"]
    return lo <= value <= hi


def test_logistic_fit_recovers_the_generator_and_its_d50() -> None:
    out = dose_response(_lesions(600, 1), metrics=("mean_gy",), bootstrap=200)
    m = out["metrics"]["mean_gy"]
    assert m["status"] == "ok" and m["n"] == 600
    assert _inside(m["intercept"], DOSE_RESPONSE.intercept)
    assert _inside(m["slope_per_gy"], DOSE_RESPONSE.slope_per_gy)
    assert _inside(m["d50_gy"], DOSE_RESPONSE.d50_gy)
    # with 600 lesions the D50 is known to about +-10 Gy (delta method), the slope to +-25 %
    assert m["d50_gy"]["ci"][1] - m["d50_gy"]["ci"][0] < 25.0
    # the fitted curve passes 0.5 at the fitted D50
    curve = m["curve"]
    assert np.interp(m["d50_gy"]["estimate"], curve["dose_gy"], curve["probability"]) == pytest.approx(0.5, abs=0.01)


def test_wald_intervals_cover_the_true_slope_95_percent_of_the_time() -> None:
    """200 cohorts of 150 lesions: the coverage is binomial(200, 0.95), sd 1.5 %; [0.90, 0.99] is +-3 sd."""
    rng = np.random.default_rng(7)
    hits = 0
    for _ in range(200):
        dose = rng.uniform(20.0, 320.0, 150)
        y = DOSE_RESPONSE.draw(dose, rng)
        fit = _logistic(y, dose)
        hits += _inside(fit["slope_per_gy"], DOSE_RESPONSE.slope_per_gy)
    assert 0.90 <= hits / 200 <= 0.99


def test_roc_threshold_and_auc_on_a_hand_checked_example() -> None:
    table = pd.DataFrame({"id": list("abcdef"), "lesion": "l", "method": "ldm", "status": "done",
                          "mean_gy": [10.0, 20.0, 30.0, 40.0, 50.0, 60.0],
                          "response": pd.array([0, 1, 0, 0, 1, 1], dtype="Int64")})
    roc = dose_response(table, metrics=("mean_gy",), sensitivity=1.0, bootstrap=100)["metrics"]["mean_gy"]["roc"]
    # every responder has >= 20 Gy; of the non-responders only 10 Gy is below: specificity 1/3
    thr = roc["threshold_at_sensitivity"]
    assert (thr["threshold_gy"], thr["sensitivity"], thr["specificity"]) == (20.0, 1.0, pytest.approx(1 / 3))
    # AUC = P(dose of a responder > dose of a non-responder) = 7/9 by counting the 9 pairs
    assert roc["auc"]["estimate"] == pytest.approx(7 / 9)


def test_bootstrap_auc_identity_matches_scikit_learn() -> None:
    """The vectorised rank-sum AUC equals roc_auc_score (ties included) on every resample."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    x = np.round(rng.uniform(0, 10, 40))  # many ties
    y = (rng.random(40) < 0.4).astype(int)
    boot = _bootstrap_auc(y, x, 50, seed=11)
    idx = np.random.default_rng(11).integers(0, 40, (50, 40))
    expected = [roc_auc_score(y[i], x[i]) for i in idx if 0 < y[i].sum() < 40]
    np.testing.assert_allclose(boot, expected, rtol=1e-12)


def test_separation_and_too_few_lesions_are_said_not_fitted() -> None:
    table = pd.DataFrame({"id": list("abcdef"), "lesion": "l", "method": "ldm", "status": "done",
                          "mean_gy": [10.0, 20.0, 30.0, 140.0, 150.0, 160.0],
                          "response": pd.array([0, 0, 0, 1, 1, 1], dtype="Int64")})
    m = dose_response(table, metrics=("mean_gy",), bootstrap=50)["metrics"]["mean_gy"]
    assert m["status"] == "separated" and "every lesion above 30 Gy responded" in m["note"]
    few = dose_response(table.iloc[:2], metrics=("mean_gy", "d70_gy"))["metrics"]
    assert few["mean_gy"]["status"] == "insufficient" and few["d70_gy"]["status"] == "missing"


def test_failed_cases_and_other_methods_are_left_out() -> None:
    table = _lesions(300, 5)
    noise = table.copy()
    noise["method"] = "vsv"
    noise["response"] = pd.array(1 - table["response"].to_numpy(dtype=int), dtype="Int64")
    failed = table.copy()
    failed["status"] = "failed"
    failed["response"] = noise["response"]
    both = pd.concat([table, noise, failed])
    a = dose_response(table, metrics=("mean_gy",), bootstrap=50)["metrics"]["mean_gy"]
    b = dose_response(both, metrics=("mean_gy",), bootstrap=50)["metrics"]["mean_gy"]
    assert a["n"] == b["n"] == 300 and a["slope_per_gy"] == b["slope_per_gy"]


def _ablations(margins: np.ndarray, seed: int) -> pd.DataFrame:
    months, progressed = MARGIN_PROGRESSION.draw(margins, np.random.default_rng(seed))
    return pd.DataFrame({"id": [f"A{i}" for i in range(len(margins))], "command": "margin", "status": "done",
                         "minimal_margin_mm": margins, "progression_months": months,
                         "progressed": pd.array(progressed, dtype="Int64")})


def test_cox_intervals_cover_the_true_hazard_ratio_95_percent_of_the_time() -> None:
    """100 cohorts of 200 ablations: coverage binomial(100, 0.95), sd 2.2 %; [0.88, 1] is 3 sd below."""
    hits = 0
    estimates = []
    for seed in range(100):
        margins = np.random.default_rng(1000 + seed).uniform(-3.0, 10.0, 200)
        months, progressed = MARGIN_PROGRESSION.draw(margins, np.random.default_rng(seed))
        cox = _cox(months, progressed, margins)
        hits += _inside(cox["log_hazard_ratio_per_mm"], MARGIN_PROGRESSION.log_hazard_ratio_per_mm)
        estimates.append(cox["log_hazard_ratio_per_mm"]["estimate"])
    assert hits >= 88
    # unbiased: the mean of 100 estimates (each sd about 0.035, so the mean's 0.0035) within 0.01 of log(0.8)
    assert np.mean(estimates) == pytest.approx(MARGIN_PROGRESSION.log_hazard_ratio_per_mm, abs=0.01)


def test_kaplan_meier_groups_and_log_rank() -> None:
    margins = np.random.default_rng(2).uniform(-3.0, 10.0, 800)
    out = margin_outcome(_ablations(margins, 4))
    assert out["status"] == "ok" and out["cox"]["status"] == "ok"
    hr = out["cox"]["hazard_ratio_per_mm"]
    assert hr["estimate"] == pytest.approx(math.exp(out["cox"]["log_hazard_ratio_per_mm"]["estimate"]))
    assert [g["group"] for g in out["kaplan_meier"]] == ["< 0 mm", "0 to < 5 mm", ">= 5 mm"]
    assert sum(g["n"] for g in out["kaplan_meier"]) == 800
    assert out["log_rank"]["p_value"] < 1e-6  # the groups differ strongly with 800 ablations
    # wider margins, fewer progressions
    last = [g["survival"][-1] for g in out["kaplan_meier"]]
    assert last[0] < last[1] < last[2]


def test_kaplan_meier_follows_the_exponential_survival_of_one_margin() -> None:
    """All ablations at a 2 mm margin: S(t) = exp(-h t), h = 0.03 x 0.8^2 per month."""
    out = margin_outcome(_ablations(np.full(600, 2.0), 9), groups_mm=(0.0, 5.0))
    (group,) = out["kaplan_meier"]
    h = MARGIN_PROGRESSION.base_hazard_per_month * MARGIN_PROGRESSION.hazard_ratio_per_mm ** 2
    t = np.asarray(group["times_months"])
    for months in (6.0, 12.0, 24.0):
        k = int(np.searchsorted(t, months, side="right")) - 1
        assert group["lower"][k] <= math.exp(-h * months) <= group["upper"][k]
    assert group["median_months"] is None or group["median_months"] > 0


def test_margin_outcome_without_events_is_said_not_fitted() -> None:
    table = _ablations(np.array([1.0, 2.0, 3.0]), 1)
    table["progressed"] = pd.array([0, 0, 0], dtype="Int64")
    out = margin_outcome(table)
    assert out["status"] == "insufficient" and out["events"] == 0
    with pytest.raises(Exception, match="increasing"):
        margin_outcome(table, groups_mm=(5.0, 0.0))
