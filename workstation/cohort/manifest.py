"""The cohort manifest: one row per treatment, read from CSV or YAML and validated up front.

Columns (CSV header, or keys of each YAML mapping):

``id``
    The case's name: letters, digits, ``.``, ``_``, ``-``; unique. Its outputs go to
    ``DIR/cases/<id>/``.
``command``
    One of :data:`workstation.cohort.COMMANDS` (``sirt``, ``plan``, ``margin``, ``rt-dose``, ``tace``).
option columns
    The command's options by their long names (``activity``, ``administered-gbq``; ``_``
    may stand for ``-``). Options written ``NAME=VALUE`` on the command line (``--roi``,
    ``--alpha-beta``) take one column per name: ``roi.liver``. A repeatable option takes
    several values separated by ``;`` in a CSV cell, or a YAML list. Flags take
    ``true``/``false``. Relative paths are relative to the manifest's folder.
``outcome.<roi>``
    1 (responded) or 0 (did not), for the ROI or lesion of that name (``lesions_1`` for
    label 1 of a ``lesions`` label image; ``tumor_1`` for tumour 1 of a margin case).
``progression_months``, ``progressed``
    Time to local progression or last follow-up (months) and whether progression was
    seen (1/0); together.

A YAML manifest is a list of such mappings (or a mapping with the list under
``cases``); nested mappings stand for dotted names (``roi: {liver: …}``,
``outcome: {lesions_1: 1}``). Every problem of every row is collected and reported
at once (:class:`ManifestError`) before anything runs.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.cohort.commands import COMMANDS, CommandSpec
from workstation.core.errors import InvalidInputError

__all__ = ["Case", "Manifest", "ManifestError", "OptionInfo", "read_manifest"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_OUTCOME_PREFIX = "outcome."
_PROGRESSION = ("progression_months", "progressed")
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


class ManifestError(InvalidInputError):
    """A manifest with problems; ``problems`` lists every one of them."""

    def __init__(self, path: str | os.PathLike[str], problems: Sequence[str]) -> None:
        self.path = str(path)
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"The manifest {path} has {n} problem{'s' if n != 1 else ''}; nothing was run:\n{lines}")


@dataclass(frozen=True)
class OptionInfo:
    """One option of a command, as the command line declares it.

    Attributes
    ----------
    name:
        Long name without dashes (``administered-gbq``).
    multiple:
        Repeatable (``--roi`` …).
    flag:
        A boolean switch; ``off`` is its negative form (``no-inverse-consistency``) if any.
    required:
        The command refuses to run without it.
    convert:
        Checks one value (raises ``ValueError``/``click.BadParameter`` on a bad one).
    """

    name: str
    multiple: bool = False
    flag: bool = False
    required: bool = False
    off: str | None = None
    convert: Callable[[str], Any] | None = None


#: ``{command: {option name: OptionInfo}}``: what the command line accepts.
OptionCatalogue = Mapping[str, Mapping[str, OptionInfo]]


@dataclass
class Case:
    """One validated row of a manifest."""

    id: str
    command: str
    #: Command-line arguments without the command name and the output option.
    args: list[str]
    #: ``{option: [values]}`` of the input files (absolute paths, ``#label`` kept).
    inputs: dict[str, list[str]]
    #: ``outcome.<roi>`` values (0/1) by ROI name.
    outcomes: dict[str, int] = field(default_factory=dict)
    progression_months: float | None = None
    progressed: int | None = None
    #: 1-based row number in the manifest (the CSV line is row + 1).
    row: int = 0

    def argv(self, output: str | os.PathLike[str] | None) -> list[str]:
        """The full command line of the case (``output``: its ``-o DIR``, or None for ``--json``)."""
        spec = COMMANDS[self.command]
        tail = ["-o", str(output)] if spec.output == "directory" else ["--json"]
        return [self.command, *self.args, *tail]

    def input_paths(self) -> list[str]:
        """Every input file or folder (``#label`` and ``NAME=`` removed)."""
        return [_path_part(v) for values in self.inputs.values() for v in values]


@dataclass
class Manifest:
    """A validated manifest."""

    path: Path
    cases: list[Case]

    def __len__(self) -> int:
        return len(self.cases)


def _path_part(value: str) -> str:
    """The file of an input value: ``NAME=FILE#label`` -> ``FILE`` (``pacs://…`` kept whole)."""
    if "pacs://" in value:
        return value[value.index("pacs://"):].split("#", 1)[0]
    _, sep, rest = value.partition("=")
    file = rest if sep and not Path(value).exists() else value
    return file.split("#", 1)[0]


def _read_rows(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of a CSV or YAML manifest as flat ``{column: value}`` mappings, and reading problems."""
    if not path.is_file():
        return [], [f"{path}: no such file."]
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot be read ({exc})."]
    if suffix in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return [], [f"{path}: not valid YAML ({str(exc).splitlines()[0]})."]
        if isinstance(data, Mapping):
            data = data.get("cases")
        if not isinstance(data, list):
            return [], [f"{path}: a YAML manifest is a list of cases (or has the list under 'cases')."]
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for n, item in enumerate(data, start=1):
            if not isinstance(item, Mapping):
                problems.append(f"row {n}: a case must be a mapping of column: value, got {type(item).__name__}.")
                rows.append({})
                continue
            rows.append(_flatten(item))
        return rows, problems
    if suffix != ".csv":
        return [], [f"{path}: a manifest is a .csv, .yaml or .yml file."]
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    problems = []
    if not header:
        return [], [f"{path}: the CSV has no header row."]
    blank = [i + 1 for i, h in enumerate(header) if not (h or "").strip()]
    if blank:
        problems.append(f"header: column {blank[0]} has no name.")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        problems.append(f"header: column {dupes[0]!r} appears more than once.")
    rows = []
    for record in reader:
        if None in record:
            problems.append(f"row {len(rows) + 1}: more cells than header columns.")
        rows.append({(k or "").strip(): v for k, v in record.items() if k is not None})
    return rows, problems


def _flatten(item: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def _values(value: Any) -> list[str]:
    """A cell as a list of strings (``;``-separated in CSV, a list in YAML)."""
    if isinstance(value, list):
        return [str(v).strip() for v in value if not _empty(v)]
    if isinstance(value, bool):
        return ["true" if value else "false"]
    return [v.strip() for v in str(value).split(";") if v.strip()]


def _bool(value: Any) -> bool | None:
    text = str(value).strip().lower()
    if isinstance(value, bool):
        return value
    return True if text in _TRUE else False if text in _FALSE else None


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _resolve(value: str, base: Path) -> str:
    """An input value with its file made absolute (relative to the manifest's folder)."""
    if "pacs://" in value:
        return value
    name, sep, rest = value.partition("=")
    if sep and not (base / value).exists() and not Path(value).is_absolute():
        return f"{name}={_resolve(rest, base)}"
    file, hash_, label = value.partition("#")
    p = Path(os.path.expanduser(file))
    absolute = p if p.is_absolute() else (base / p)
    return str(absolute.resolve()) + hash_ + label


class _Row:
    """Validation of one row: its problems, and the case when there are none."""

    def __init__(self, n: int, record: dict[str, Any], base: Path, catalogue: OptionCatalogue) -> None:
        self.n = n
        self.problems: list[str] = []
        self.record = record
        self.base = base
        self.catalogue = catalogue
        self.id = str(record.get("id") or "").strip()
        self.where = f"row {n}" + (f" ({self.id})" if self.id else "")

    def problem(self, text: str) -> None:
        self.problems.append(f"{self.where}: {text}")

    def case(self) -> Case | None:
        rec = self.record
        if not self.id:
            self.problem("no id.")
        elif not _ID.match(self.id):
            self.problem(f"id {self.id!r} may hold only letters, digits, '.', '_' and '-' (it names a folder).")
        command = str(rec.get("command") or "").strip().lower()
        spec: CommandSpec | None = None
        if not command:
            self.problem("no command.")
        elif command not in COMMANDS or command not in self.catalogue:
            known = [c for c in COMMANDS if c in self.catalogue]
            self.problem(f"unknown command {command!r}{_suggest(command, known)}; choose from {', '.join(known)}.")
        else:
            spec = COMMANDS[command]
        outcomes, months, progressed = self._outcomes()
        args: list[str] = []
        inputs: dict[str, list[str]] = {}
        if spec is not None:
            args, inputs = self._options(spec)
        if self.problems or spec is None:
            return None
        return Case(self.id, command, args, inputs, outcomes, months, progressed, self.n)

    def _outcomes(self) -> tuple[dict[str, int], float | None, int | None]:
        rec = self.record
        outcomes: dict[str, int] = {}
        for key, value in rec.items():
            if not key.startswith(_OUTCOME_PREFIX) or _empty(value):
                continue
            roi = key[len(_OUTCOME_PREFIX):].strip()
            flag = _bool(value)
            if not roi:
                self.problem(f"column {key!r} names no ROI (outcome.<roi>).")
            elif flag is None:
                self.problem(f"{key} must be 1 (responded) or 0 (did not), got {value!r}.")
            else:
                outcomes[roi] = int(flag)
        months: float | None = None
        progressed: int | None = None
        raw_months, raw_prog = rec.get(_PROGRESSION[0]), rec.get(_PROGRESSION[1])
        if not _empty(raw_months):
            try:
                months = float(str(raw_months))
            except (TypeError, ValueError):
                months = math.nan
            if not (math.isfinite(months) and months >= 0):
                self.problem(f"progression_months must be a number of months >= 0, got {raw_months!r}.")
        if not _empty(raw_prog):
            flag = _bool(raw_prog)
            if flag is None:
                self.problem(f"progressed must be 1 (local progression seen) or 0, got {raw_prog!r}.")
            else:
                progressed = int(flag)
        if (months is None) != (progressed is None):
            self.problem("progression_months and progressed go together: give both or neither.")
        return outcomes, months, progressed

    def _options(self, spec: CommandSpec) -> tuple[list[str], dict[str, list[str]]]:
        options = self.catalogue[spec.name]
        args: list[str] = []
        inputs: dict[str, list[str]] = {}
        seen: set[str] = set()
        for key, value in self.record.items():
            if key in ("id", "command", *_PROGRESSION) or key.startswith(_OUTCOME_PREFIX) or _empty(value):
                continue
            column = key.strip()
            base_name, dot, sub = column.partition(".")
            name = base_name.strip().lower().replace("_", "-")
            if name in spec.reserved_options:
                self.problem(f"option {column!r} is set by the cohort (each case writes to DIR/cases/<id>).")
                continue
            info = options.get(name)
            if info is None:
                self.problem(f"unknown option {column!r} of {spec.name}{_suggest(name, list(options))}.")
                continue
            if dot and not info.multiple:
                self.problem(f"option {column!r}: --{name} takes one value, not NAME=VALUE columns.")
                continue
            seen.add(name)
            values = [f"{sub}={v}" for v in _values(value)] if dot else _values(value)
            if info.flag:
                flag = _bool(value)
                if flag is None:
                    self.problem(f"flag {column!r} must be true or false, got {value!r}.")
                elif flag:
                    args.append(f"--{name}")
                elif info.off:
                    args.append(f"--{info.off}")
                continue
            if len(values) > 1 and not info.multiple:
                self.problem(f"option {column!r} takes one value, got {len(values)}.")
                continue
            if name in spec.input_options:
                values = [_resolve(v, self.base) for v in values]
                for v in values:
                    self._check_input(column, v)
                inputs.setdefault(name, []).extend(values)
            elif info.convert is not None:
                for v in values:
                    try:
                        converted = info.convert(v.partition("=")[2] if dot else v)
                    except Exception as exc:  # noqa: BLE001 - click.BadParameter and ValueError alike
                        self.problem(f"option {column!r}: {getattr(exc, 'message', None) or exc}")
                        continue
                    if isinstance(converted, float) and not math.isfinite(converted):
                        self.problem(f"option {column!r} must be a finite number, got {v!r}.")
            for v in values:
                args.extend([f"--{name}", v])
        missing = [o for o, info in options.items()
                   if info.required and o not in seen and o not in spec.reserved_options]
        if missing:
            self.problem(f"{spec.name} needs {', '.join(repr(m) for m in missing)}.")
        return args, inputs

    def _check_input(self, column: str, value: str) -> None:
        if "pacs://" in value:
            return
        file = Path(_path_part(value))
        if not file.exists():
            self.problem(f"{column}: {file} does not exist.")


def read_manifest(path: str | os.PathLike[str], catalogue: OptionCatalogue) -> Manifest:
    """Read and validate a manifest; raise :class:`ManifestError` listing every problem.

    Parameters
    ----------
    path:
        A ``.csv``, ``.yaml`` or ``.yml`` file (see the module docstring).
    catalogue:
        The options each command accepts (built by the command line from its own
        commands, so that the manifest accepts exactly what the commands do).
    """
    p = Path(path)
    rows, problems = _read_rows(p)
    if not rows and not problems:
        problems.append(f"{p}: no cases.")
    base = p.resolve().parent
    cases: list[Case] = []
    first_row: dict[str, int] = {}
    for n, record in enumerate(rows, start=1):
        if not record:
            continue
        row = _Row(n, record, base, catalogue)
        case = row.case()
        if row.id:
            if row.id in first_row:
                row.problem(f"duplicate id {row.id!r} (first used in row {first_row[row.id]}).")
            else:
                first_row[row.id] = n
        problems.extend(row.problems)
        if case is not None and not row.problems:
            cases.append(case)
    if problems:
        raise ManifestError(p, problems)
    return Manifest(p.resolve(), cases)
