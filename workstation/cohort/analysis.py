"""``workstation cohort analyze``: dose-response and margin-outcome on the cohort tables.

Dose-response (per lesion, or per ROI)
    Logistic regression of the response (``outcome.<roi>``, 1/0) on each dose metric
    (mean dose, D70, mean EQD2) of one dosimetry method, by maximum likelihood
    (``statsmodels`` ``Logit``): intercept and slope with Wald confidence intervals,
    the dose of 50 % response probability ``D50 = -intercept / slope`` with a
    delta-method interval, the fitted curve with its pointwise band; the ROC curve
    and its area (``scikit-learn``; percentile-bootstrap interval) and the lowest
    dose threshold that reaches a chosen sensitivity, with its specificity.
Margin-outcome (per ablation)
    Kaplan-Meier estimates of freedom from local progression by minimal-margin group
    (``statsmodels`` ``SurvfuncRight``: Greenwood standard errors, pointwise
    log(-log) intervals), the log-rank test across groups (``survdiff``) and a Cox
    proportional-hazards model of the minimal margin as a continuous covariate
    (``PHReg``, Breslow ties): hazard ratio per millimetre with its interval.

Everything returned is plain JSON (``analysis.json``); the report package draws it.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from workstation.cohort.constants import (
    AUC_BOOTSTRAP_RESAMPLES,
    CONFIDENCE_LEVEL,
    DEFAULT_MARGIN_GROUPS_MM,
    DEFAULT_SENSITIVITY,
    DOSE_METRICS,
)
from workstation.core.errors import InvalidInputError

__all__ = ["analyze_cohort", "dose_response", "margin_outcome", "write_analysis"]

_USABLE = ("done", "skipped")
_SOURCES = [
    "logistic regression: statsmodels Logit (maximum likelihood; Wald intervals)",
    "ROC and AUC: scikit-learn roc_curve / roc_auc_score; AUC interval by percentile bootstrap",
    "Kaplan-Meier with Greenwood standard errors, log-rank test, Cox model: statsmodels.duration "
    "(SurvfuncRight, survdiff, PHReg with Breslow ties)",
    "D50 interval by the delta method; Kaplan-Meier pointwise intervals on the log(-log) scale "
    "(Kalbfleisch JD, Prentice RL, The Statistical Analysis of Failure Time Data, 2nd ed., 2002)",
]


def _z() -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + CONFIDENCE_LEVEL / 2))


def _num(value: Any) -> float | None:
    """A finite float, or None (JSON has no NaN)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _estimate(value: float, lo: float, hi: float) -> dict[str, Any]:
    return {"estimate": _num(value), "ci": [_num(lo), _num(hi)]}


def _bootstrap_auc(y: np.ndarray, x: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """AUCs of bootstrap resamples (cases drawn with replacement; resamples of one class dropped).

    All resamples at once through the Mann-Whitney identity
    ``AUC = (R1 - n1 (n1 + 1) / 2) / (n1 n0)`` with ``R1`` the rank sum of the responders
    (mid-ranks for ties, ``scipy.stats.rankdata``): the same number as ``roc_auc_score``.
    """
    from scipy.stats import rankdata

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), (resamples, len(y)))
    yb = y[idx].astype(np.float64)
    ranks = rankdata(x[idx], axis=1)
    n1 = yb.sum(axis=1)
    n0 = len(y) - n1
    ok = (n1 > 0) & (n0 > 0)
    r1 = (ranks * yb).sum(axis=1)
    return ((r1 - n1 * (n1 + 1) / 2)[ok] / (n1 * n0)[ok]).astype(np.float64)


def _roc(y: np.ndarray, x: np.ndarray, sensitivity: float, resamples: int, seed: int) -> dict[str, Any]:
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, thresholds = roc_curve(y, x, drop_intermediate=False)
    auc = float(roc_auc_score(y, x))
    boot = _bootstrap_auc(y, x, resamples, seed)
    alpha = (1 - CONFIDENCE_LEVEL) / 2
    lo, hi = (np.quantile(boot, [alpha, 1 - alpha]) if boot.size else (math.nan, math.nan))
    k = int(np.argmax(tpr >= sensitivity))
    return {
        "auc": _estimate(auc, lo, hi),
        "auc_bootstrap_resamples": len(boot),
        "curve": {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                  "thresholds_gy": [_num(t) for t in thresholds]},
        "threshold_at_sensitivity": {
            "requested_sensitivity": sensitivity,
            "threshold_gy": _num(thresholds[k]),
            "sensitivity": float(tpr[k]),
            "specificity": float(1.0 - fpr[k]),
            "rule": "predicted responder when the dose is at least threshold_gy",
        },
    }


def _logistic(y: np.ndarray, x: np.ndarray) -> dict[str, Any]:
    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.sm_exceptions import (
        ConvergenceWarning,
        PerfectSeparationError,
        PerfectSeparationWarning,
    )

    exog = np.column_stack([np.ones_like(x), x])
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = Logit(y, exog).fit(disp=0, maxiter=200)
        except (PerfectSeparationError, PerfectSeparationWarning):
            responders, others = x[y == 1], x[y == 0]
            return {"status": "separated",
                    "note": "perfect separation: every lesion above "
                    f"{others.max():.4g} Gy responded and none below {responders.min():.4g} Gy; the maximum-"
                    "likelihood slope is infinite, so no finite fit or interval exists (more cases are needed)"}
        except np.linalg.LinAlgError as exc:
            return {"status": "failed", "note": f"the fit did not converge ({exc})"}
    b = np.asarray(fit.params, dtype=np.float64)
    cov = np.asarray(fit.cov_params(), dtype=np.float64)
    ci = np.asarray(fit.conf_int(alpha=1 - CONFIDENCE_LEVEL), dtype=np.float64)
    z = _z()
    out: dict[str, Any] = {
        "status": "ok" if bool(fit.mle_retvals.get("converged", True)) else "not converged",
        "intercept": _estimate(b[0], ci[0, 0], ci[0, 1]),
        "slope_per_gy": _estimate(b[1], ci[1, 0], ci[1, 1]),
        "p_value_slope": _num(fit.pvalues[1]),
        "log_likelihood": _num(fit.llf),
        "pseudo_r2_mcfadden": _num(fit.prsquared),
    }
    if b[1] != 0:
        d50 = -b[0] / b[1]
        grad = np.array([-1.0 / b[1], b[0] / b[1] ** 2])
        se = math.sqrt(max(float(grad @ cov @ grad), 0.0))
        out["d50_gy"] = _estimate(d50, d50 - z * se, d50 + z * se)
    lo_x, hi_x = float(np.min(x)), float(np.max(x))
    span = hi_x - lo_x or max(abs(hi_x), 1.0)
    grid = np.linspace(max(0.0, lo_x - 0.1 * span), hi_x + 0.1 * span, 101)
    design = np.column_stack([np.ones_like(grid), grid])
    eta = design @ b
    se_eta = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", design, cov, design), 0.0))

    def expit(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    out["curve"] = {"dose_gy": grid.tolist(), "probability": expit(eta).tolist(),
                    "lower": expit(eta - z * se_eta).tolist(), "upper": expit(eta + z * se_eta).tolist()}
    return out


def dose_response(
    table: Any,
    metrics: Sequence[str] = DOSE_METRICS,
    method: str | None = "ldm",
    sensitivity: float = DEFAULT_SENSITIVITY,
    bootstrap: int = AUC_BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """Logistic dose-response and ROC of each dose metric.

    Parameters
    ----------
    table:
        The lesion (or ROI) table: columns ``response`` (0/1), ``status``, the
        ``metrics`` (Gy) and ``method``.
    metrics:
        Dose columns to analyse, each on its own.
    method:
        Dosimetry method whose doses are used (rows of other methods are left out);
        None for tables without methods (rt-dose).
    sensitivity:
        The sensitivity (0-1) at which the ROC threshold dose is reported.
    bootstrap, seed:
        Resamples and seed of the AUC interval.
    """
    if not 0 < sensitivity <= 1:
        raise InvalidInputError(f"--sensitivity must be in (0, 1], got {sensitivity}.")
    rows = table
    if "status" in rows:
        rows = rows[rows["status"].isin(_USABLE)]
    if "response" not in rows:
        rows = rows.iloc[0:0]
    rows = rows[rows["response"].notna()] if "response" in rows else rows
    if method is not None and "method" in rows:
        rows = rows[rows["method"] == method]
    out: dict[str, Any] = {"method": method, "confidence_level": CONFIDENCE_LEVEL, "metrics": {}}
    for metric in metrics:
        if metric not in rows:
            out["metrics"][metric] = {"status": "missing", "note": f"no column {metric!r} in the table"}
            continue
        sel = rows[np.isfinite(rows[metric].astype("float64"))]
        y = sel["response"].astype("int64").to_numpy()
        x = sel[metric].astype("float64").to_numpy()
        entry: dict[str, Any] = {"n": int(len(y)), "responders": int(y.sum()),
                                 "points": {"dose_gy": x.tolist(), "response": y.tolist(),
                                            "id": sel["id"].astype(str).tolist(),
                                            "lesion": sel[[c for c in ("lesion", "roi") if c in sel][0]]
                                            .astype(str).tolist() if len(sel) else []}}
        if len(y) < 3 or y.sum() == 0 or y.sum() == len(y):
            entry.update({"status": "insufficient",
                          "note": f"{len(y)} lesions with {int(y.sum())} responders: a fit needs responders "
                          "and non-responders"})
        else:
            entry.update(_logistic(y, x))
            entry["roc"] = _roc(y, x, sensitivity, bootstrap, seed)
        out["metrics"][metric] = entry
    return out


def _km_interval(prob: np.ndarray, se: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Pointwise interval of S(t) on the log(-log) scale from Greenwood's standard error."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(prob)
        theta = se / (prob * np.abs(log_s))
        lo = prob ** np.exp(z * theta)
        hi = prob ** np.exp(-z * theta)
    lo = np.where(np.isfinite(lo), lo, prob)
    hi = np.where(np.isfinite(hi), hi, prob)
    return lo, hi


def _group_labels(edges: Sequence[float]) -> list[str]:
    labels = [f"< {edges[0]:g} mm"]
    labels += [f"{a:g} to < {b:g} mm" for a, b in zip(edges[:-1], edges[1:], strict=True)]
    labels.append(f">= {edges[-1]:g} mm")
    return labels


def margin_outcome(table: Any, groups_mm: Sequence[float] = DEFAULT_MARGIN_GROUPS_MM) -> dict[str, Any]:
    """Kaplan-Meier by minimal-margin group, log-rank test and Cox model of the minimal margin.

    Parameters
    ----------
    table:
        The treatment table: ``minimal_margin_mm``, ``progression_months``,
        ``progressed`` (0/1), ``status``.
    groups_mm:
        Increasing group edges (mm): ``(0, 5)`` gives < 0, 0 to < 5 and >= 5 mm.
    """
    from statsmodels.duration.survfunc import SurvfuncRight, survdiff

    edges = [float(g) for g in groups_mm]
    if not edges or any(b <= a for a, b in zip(edges[:-1], edges[1:], strict=False)):
        raise InvalidInputError(f"--margin-groups must be increasing margins in mm, got {groups_mm}.")
    need = ("minimal_margin_mm", "progression_months", "progressed")
    rows = table
    if "status" in rows:
        rows = rows[rows["status"].isin(_USABLE)]
    if any(c not in rows for c in need):
        return {"status": "insufficient", "n": 0, "note": "no minimal margins with progression data"}
    rows = rows[rows["minimal_margin_mm"].notna() & rows["progression_months"].notna() & rows["progressed"].notna()]
    margin = rows["minimal_margin_mm"].astype("float64").to_numpy()
    time = rows["progression_months"].astype("float64").to_numpy()
    status = rows["progressed"].astype("int64").to_numpy()
    out: dict[str, Any] = {"n": int(len(time)), "events": int(status.sum()), "groups_mm": edges,
                           "confidence_level": CONFIDENCE_LEVEL,
                           "points": {"id": rows["id"].astype(str).tolist(), "minimal_margin_mm": margin.tolist(),
                                      "progression_months": time.tolist(), "progressed": status.tolist()}}
    if len(time) < 3 or status.sum() == 0:
        out.update({"status": "insufficient",
                    "note": f"{len(time)} ablations with {int(status.sum())} local progressions: "
                    "the models need events"})
        return out
    out["status"] = "ok"
    z = _z()
    group = np.digitize(margin, edges, right=False)
    labels = _group_labels(edges)
    km = []
    for g in sorted(set(group.tolist())):
        sel = group == g
        sf = SurvfuncRight(time[sel], status[sel])
        prob = np.asarray(sf.surv_prob, dtype=np.float64)
        lo, hi = _km_interval(prob, np.asarray(sf.surv_prob_se, dtype=np.float64), z)
        median = sf.quantile(0.5)
        km.append({"group": labels[g], "n": int(sel.sum()), "events": int(status[sel].sum()),
                   "times_months": np.asarray(sf.surv_times, dtype=np.float64).tolist(),
                   "survival": prob.tolist(), "lower": lo.tolist(), "upper": hi.tolist(),
                   "median_months": _num(median)})
    out["kaplan_meier"] = km
    if len(km) > 1:
        chi2, p = survdiff(time, status, group)
        out["log_rank"] = {"chi2": _num(chi2), "df": len(km) - 1, "p_value": _num(p)}
    out["cox"] = _cox(time, status, margin)
    return out


def _cox(time: np.ndarray, status: np.ndarray, margin: np.ndarray) -> dict[str, Any]:
    """Cox model of the minimal margin (mm); a fit that does not converge is said so, not reported."""
    from statsmodels.duration.hazard_regression import PHReg
    from statsmodels.tools.sm_exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit = PHReg(time, margin[:, None], status=status, ties="breslow").fit()
        except (ConvergenceWarning, np.linalg.LinAlgError) as exc:
            return {"covariate": "minimal_margin_mm", "status": "not converged",
                    "note": f"the Cox fit did not converge ({str(exc).splitlines()[0]}): with so few events "
                    "the margins may separate progressing from non-progressing ablations"}
    beta = float(np.asarray(fit.params)[0])
    ci = np.asarray(fit.conf_int(alpha=1 - CONFIDENCE_LEVEL), dtype=np.float64)[0]
    with np.errstate(over="ignore"):
        hr = np.exp([beta, ci[0], ci[1]])
    return {"covariate": "minimal_margin_mm", "status": "ok",
            "log_hazard_ratio_per_mm": _estimate(beta, ci[0], ci[1]),
            "hazard_ratio_per_mm": _estimate(hr[0], hr[1], hr[2]),
            "p_value": _num(np.asarray(fit.pvalues)[0])}


def analyze_cohort(
    out_dir: str | os.PathLike[str],
    method: str | None = "ldm",
    metrics: Sequence[str] = DOSE_METRICS,
    level: str = "lesions",
    sensitivity: float = DEFAULT_SENSITIVITY,
    margin_groups_mm: Sequence[float] = DEFAULT_MARGIN_GROUPS_MM,
    bootstrap: int = AUC_BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """Dose-response and margin-outcome of a cohort folder written by ``cohort run``.

    Parameters
    ----------
    out_dir:
        The folder of ``cohort run`` (its Parquet tables and ``cohort.json``).
    method:
        Dosimetry method of the dose metrics (``ldm``, ``vsv``, ``vsv-density``).
    metrics:
        Dose columns of the dose-response fits.
    level:
        ``lesions`` (default) or ``rois``: the table whose ``response`` column is used.
    sensitivity, margin_groups_mm, bootstrap:
        See :func:`dose_response` and :func:`margin_outcome`.
    """
    from workstation import __version__
    from workstation.cohort.tables import read_table

    if level not in ("lesions", "rois"):
        raise InvalidInputError(f"--level must be lesions or rois, got {level!r}.")
    folder = Path(out_dir)
    treatments = read_table(folder, "treatments")
    doses = read_table(folder, level)
    if method is not None and "method" in doses and len(doses) and method not in set(doses["method"].dropna()):
        known = sorted(set(doses["method"].dropna()))
        if known:
            raise InvalidInputError(f"--method {method!r} is not in the cohort's results; choose from {', '.join(known)}.")
    try:
        run = json.loads((folder / "cohort.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        run = {}
    counts = treatments["status"].value_counts().to_dict() if "status" in treatments else {}
    failed = treatments[treatments["status"] == "failed"] if "status" in treatments else treatments.iloc[0:0]
    return {
        "workstation_version": __version__,
        "cohort": {"folder": str(folder.resolve()), "treatments": int(len(treatments)),
                   "by_command": treatments["command"].value_counts().to_dict() if "command" in treatments else {},
                   "status": {k: int(v) for k, v in counts.items()},
                   "failed": [{"id": str(i), "reason": str(r)} for i, r in zip(failed["id"], failed["reason"], strict=True)],
                   "run": {k: run.get(k) for k in ("started", "seconds", "cluster", "manifest", "code_hash")}},
        "dose_response": {"level": level, **dose_response(doses, metrics, method, sensitivity, bootstrap)},
        "margin_outcome": margin_outcome(treatments, margin_groups_mm),
        "eqd2": run.get("eqd2"),
        "sources": _SOURCES,
    }


def write_analysis(analysis: dict[str, Any], out_dir: str | os.PathLike[str]) -> Path:
    """Write ``analysis.json`` atomically."""
    from workstation.io import atomic_path

    path = Path(out_dir) / "analysis.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(analysis, indent=1, allow_nan=False, default=str), encoding="utf-8")
    return path
