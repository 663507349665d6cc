"""Cohort commands: ``cohort run`` (a manifest of treatments on Dask) and ``cohort analyze``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from workstation.cli._common import entry_point, progress, say

app = typer.Typer(help="Many treatments at once on Dask; dose-response and margin-outcome analysis.",
                  no_args_is_help=True)


def option_catalogue(ctx: typer.Context) -> dict[str, dict[str, Any]]:
    """The options of each command a manifest may name, read from the command line itself.

    (Typer ships its own copy of click, so the parameters are read by their attributes.)
    """
    from workstation.cohort import COMMANDS, OptionInfo

    root = ctx.find_root()
    group = root.command
    catalogue: dict[str, dict[str, Any]] = {}
    for name in COMMANDS:
        command = group.get_command(root, name) if hasattr(group, "get_command") else None
        if command is None:
            continue
        options = {}
        sub = root.__class__(command, info_name=name, parent=root)
        for param in command.params:
            if getattr(param, "param_type_name", None) != "option":
                continue
            longs = [o for o in param.opts if o.startswith("--")]
            if not longs:
                continue
            off = next((o[2:] for o in param.secondary_opts if o.startswith("--")), None)

            def convert(value: str, p: Any = param, c: Any = sub) -> Any:
                return p.process_value(c, value)

            info = OptionInfo(longs[0][2:], multiple=bool(param.multiple), flag=bool(param.is_flag),
                              required=bool(param.required), off=off, convert=convert)
            options[info.name] = info
        catalogue[name] = options
    return catalogue


@app.command("run")
def run(
    ctx: typer.Context,
    manifest: Annotated[Path, typer.Argument(help="Manifest: CSV or YAML, one treatment per row (see docs/cohort.md).")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder (tables, cases/<id>/, cohort.json).")],
    scheduler: Annotated[str | None, typer.Option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786); default: a local cluster.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, help="Worker processes of the local cluster (default: one per core).")] = None,
    memory_limit: Annotated[str, typer.Option("--memory-limit", help="Memory limit of each local worker (e.g. 4GiB, or auto).")] = "4GiB",
    retries: Annotated[int, typer.Option("--retries", min=0, help="Re-runs of a case whose task raised an unexpected error.")] = 1,
    force: Annotated[bool, typer.Option("--force", help="Run every case, even those whose inputs, options and code are unchanged.")] = False,
    serial: Annotated[bool, typer.Option("--serial", help="No Dask: run the cases one after the other in this process.")] = False,
) -> None:
    """Run every treatment of a manifest as a task on Dask; write treatment, ROI and lesion tables."""
    from workstation.cohort import read_manifest, run_cohort
    from workstation.core.errors import InvalidInputError

    if scheduler is not None and (workers is not None or serial):
        raise InvalidInputError("--scheduler runs on an existing cluster: give it without --workers or --serial.")
    runner = entry_point()
    cases = read_manifest(manifest, option_catalogue(ctx))

    def started(info: dict[str, Any]) -> None:
        if serial:
            say(f"{len(cases)} cases, one after the other in this process")
            return
        say(f"{len(cases)} cases on {info['workers']} worker(s) of {info['scheduler']}")
        if info.get("dashboard"):
            say(f"dashboard: {info['dashboard']}")

    with progress("cohort") as advance:
        result = run_cohort(cases, output, runner, scheduler=scheduler, workers=workers,
                            memory_limit=None if memory_limit == "auto" else memory_limit, retries=retries,
                            serial=serial, force=force, progress=advance, on_start=started)
    c = result.counts
    say(f"{c['done']} done, {c['skipped']} skipped (unchanged), {c['failed']} failed "
        f"in {result.summary['seconds']:.0f} s")
    for item in result.summary["failed"]:
        say(f"failed {item['id']}: {item['reason']}")
    for w in result.summary["warnings"]:
        say(f"warning: {w}")
    say(f"wrote {output}/treatments, rois, lesions (.parquet, .csv) and cohort.json; "
        f"next: workstation cohort analyze {output}")


@app.command("analyze")
def analyze(
    directory: Annotated[Path, typer.Argument(help="Output folder of 'workstation cohort run'.")],
    method: Annotated[str, typer.Option("--method", help="Dosimetry method of the dose metrics: ldm, vsv or vsv-density.")] = "ldm",
    metric: Annotated[list[str] | None, typer.Option("--metric", help="Dose metric (repeat): mean_gy, d70_gy, eqd2_mean_gy, d90_gy, ...")] = None,
    level: Annotated[str, typer.Option("--level", help="lesions (outcome per lesion) or rois.")] = "lesions",
    sensitivity: Annotated[float, typer.Option("--sensitivity", help="Sensitivity (0-1) at which the ROC threshold dose is reported.")] = 0.9,
    margin_groups: Annotated[str, typer.Option("--margin-groups", help="Minimal-margin group edges, mm, comma-separated.")] = "0,5",
    no_pdf: Annotated[bool, typer.Option("--no-pdf", help="Write report.html only.")] = False,
) -> None:
    """Dose-response (logistic fit, ROC) and margin-outcome (Kaplan-Meier, Cox) of a cohort; HTML/PDF report."""
    from workstation.cohort import analyze_cohort, write_analysis
    from workstation.cohort.constants import DOSE_METRICS
    from workstation.core.errors import InvalidInputError
    from workstation.report import write_report
    from workstation.report.cohort import build_cohort_report

    try:
        groups = [float(v) for v in margin_groups.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"--margin-groups {margin_groups!r} must be numbers in mm, e.g. 0,5.") from None
    with progress("cohort analysis") as advance:
        advance(0.1, "fitting")
        analysis = analyze_cohort(directory, method=method, metrics=metric or DOSE_METRICS, level=level,
                                  sensitivity=sensitivity, margin_groups_mm=groups)
        advance(0.6, "report")
        write_analysis(analysis, directory)
        doc = build_cohort_report(analysis)
        write_report(doc, directory / "report.html", None if no_pdf else directory / "report.pdf")
    dr = analysis["dose_response"]
    for name, entry in dr["metrics"].items():
        if entry.get("status") == "ok" and "d50_gy" in entry:
            d50 = entry["d50_gy"]
            auc = entry["roc"]["auc"]
            thr = entry["roc"]["threshold_at_sensitivity"]
            say(f"{name} ({method}): D50 {d50['estimate']:.1f} Gy (95 % CI {d50['ci'][0]:.1f} to {d50['ci'][1]:.1f}), "
                f"AUC {auc['estimate']:.2f}; >= {thr['threshold_gy']:.1f} Gy: sensitivity "
                f"{thr['sensitivity']:.2f}, specificity {thr['specificity']:.2f} (n = {entry['n']})")
        else:
            say(f"{name} ({method}): {entry.get('note', entry.get('status'))}")
    mo = analysis["margin_outcome"]
    if mo.get("status") == "ok" and mo["cox"].get("status") == "ok":
        hr = mo["cox"]["hazard_ratio_per_mm"]
        say(f"minimal margin: hazard ratio of local progression {hr['estimate']:.3f} per mm "
            f"(95 % CI {hr['ci'][0]:.3f} to {hr['ci'][1]:.3f}), {mo['events']} events in {mo['n']} ablations")
    else:
        say(f"minimal margin: {mo.get('note') or (mo.get('cox') or {}).get('note') or mo.get('status')}")
    say(f"wrote {directory}/analysis.json, report.html" + ("" if no_pdf else ", report.pdf"))
