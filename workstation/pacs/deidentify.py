"""De-identification after the DICOM PS3.15 Basic Application Level Confidentiality Profile.

The profile's table of attributes and actions (PS3.15 Annex E, Table E.1-1:
D replace, Z empty, X remove, U new UID, and their combinations) comes from the
maintained library dicom-anonymizer (KitwareMedical, PyPI ``dicom-anonymizer``),
whose tables are generated from the standard's own XML (edition
:data:`PROFILE_TABLE`). This module applies it *at every nesting level* (the
library applies individual tags at the top level only, so a UID inside a
Referenced Series Sequence would stay) and adds what a study needs to stay
usable:

* **UIDs (action U)** are replaced by ``2.25.<integer>`` (PS3.5 B.2), the
  integer a name-based UUID made of a keyed SHA-256 hash of the original UID:
  the same original UID gives the same new UID in every
  file and every run with the same key. A SPECT and its CT therefore keep their
  shared Frame of Reference UID, and references between objects (SEG, RTDOSE,
  SR → images) stay intact.
* **Dates** (every DA and DT element, any depth) are shifted by one whole
  number of days (the Retain Longitudinal Temporal Information with Modified
  Dates Option, PS3.15 E.3.6): intervals between dates, and so decay
  corrections and dose results, are unchanged. Times of day (TM) are kept,
  which a whole-day shift leaves consistent.
* **Patient's Name and ID** (action Z) are replaced by one pseudonym derived
  from the key and the original Patient ID (or given).
* **Private attributes** are removed (PS3.15 E.3.10: unless an option retains
  safe private attributes, they are removed); an **Original Attributes
  Sequence** (0400,0561) is removed (action X): it holds original values.
* Patient Identity Removed (0012,0062) = YES, De-identification Method
  (0012,0063) and its code sequence (0012,0064: CID 7050, 113100 Basic
  Application Confidentiality Profile, 113107 Retain Longitudinal Temporal
  Information Modified Dates Option, and 113108 Retain Patient Characteristics
  Option when sex, age, size and weight are kept).

Documents whose content cannot be cleaned attribute by attribute, Encapsulated
PDF (the report shows the patient's name) and Structured Reports (the profile
replaces their Content Sequence, action D), are not written; they are listed
with that reason, to be regenerated from the de-identified images. Pixel data
are not inspected for burned-in text (Burned In Annotation is kept as it was).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workstation.core.errors import DicomError, InvalidInputError

__all__ = [
    "PROFILE_TABLE",
    "AnonymizeResult",
    "Deidentifier",
    "anonymize",
    "profile_actions",
]

#: dicom-anonymizer's table of PS3.15 Table E.1-1, DICOM edition 2026c.
PROFILE_TABLE = "dicomfields_2026c"
#: Smallest and largest date shift when derived from the key (days, backwards):
#: more than a year so that season and weekday carry no information, less than
#: ten years so that ages stay plausible.
DATE_SHIFT_MIN_DAYS = 365
DATE_SHIFT_MAX_DAYS = 3650
#: SOP classes that are skipped: their content is a document, not attributes.
_DOCUMENT_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.104.1": "an Encapsulated PDF (its text is not inspected)",
    "1.2.840.10008.5.1.4.1.1.104.2": "an Encapsulated CDA (its text is not inspected)",
    "1.2.840.10008.5.1.4.1.1.88.11": "a Structured Report (the profile replaces its content)",
    "1.2.840.10008.5.1.4.1.1.88.22": "a Structured Report (the profile replaces its content)",
    "1.2.840.10008.5.1.4.1.1.88.33": "a Structured Report (the profile replaces its content)",
    "1.2.840.10008.5.1.4.1.1.88.34": "a Structured Report (the profile replaces its content)",
}
#: Retain Patient Characteristics Option (PS3.15 E.3.7): kept when asked.
PATIENT_CHARACTERISTICS = ("PatientSex", "PatientAge", "PatientSize", "PatientWeight")
_DATE_VRS = ("DA", "DT")


def profile_actions() -> tuple[dict[tuple[int, int], Callable[..., Any]], list[tuple[tuple[int, int, int, int], Callable[..., Any]]]]:
    """The profile's actions from dicom-anonymizer: ``({(group, element): action}, [(masked tag, action)])``."""
    from dicomanonymizer.simpledicomanonymizer import initialize_actions

    exact: dict[tuple[int, int], Callable[..., Any]] = {}
    masked: list[tuple[tuple[int, int, int, int], Callable[..., Any]]] = []
    for tag, action in initialize_actions(PROFILE_TABLE).items():
        if len(tag) == 2:
            exact[(int(tag[0]), int(tag[1]))] = action
        else:
            masked.append(((int(tag[0]), int(tag[1]), int(tag[2]), int(tag[3])), action))
    return exact, masked


def _action_name(action: Callable[..., Any]) -> str:
    return getattr(action, "__name__", "")


@dataclass
class Deidentifier:
    """Consistent de-identification of the datasets of one study (or several, with one key).

    Parameters
    ----------
    key:
        Secret that makes the UID mapping, pseudonym and date shift reproducible;
        a random one by default (then only this object's datasets are consistent).
    date_shift_days:
        Days subtracted from every date; default derived from the key, between
        :data:`DATE_SHIFT_MIN_DAYS` and :data:`DATE_SHIFT_MAX_DAYS`.
    patient_id, patient_name:
        Pseudonyms; default ``ANON-<hash>`` of the original Patient ID.
    keep_patient_characteristics:
        Keep sex, age, size and weight (PS3.15 Retain Patient Characteristics Option).
    """

    key: str = field(default_factory=lambda: secrets.token_hex(16))
    date_shift_days: int | None = None
    patient_id: str | None = None
    patient_name: str | None = None
    keep_patient_characteristics: bool = False
    _exact: dict[tuple[int, int], Callable[..., Any]] = field(init=False, repr=False)
    _masked: list[tuple[tuple[int, int, int, int], Callable[..., Any]]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._exact, self._masked = profile_actions()
        if self.date_shift_days is None:
            digest = hashlib.sha256(f"date-shift:{self.key}".encode()).digest()
            span = DATE_SHIFT_MAX_DAYS - DATE_SHIFT_MIN_DAYS + 1
            self.date_shift_days = DATE_SHIFT_MIN_DAYS + int.from_bytes(digest[:8], "big") % span
        if not isinstance(self.date_shift_days, int) or isinstance(self.date_shift_days, bool):
            raise InvalidInputError(f"The date shift {self.date_shift_days!r} must be a whole number of days.")

    # ----------------------------------------------------------- mappings
    def new_uid(self, uid: str) -> str:
        """The replacement of ``uid`` (same input and key, same output)."""
        digest = hashlib.sha256(f"uid:{self.key}:{str(uid).strip()}".encode()).digest()
        return f"2.25.{uuid.UUID(bytes=digest[:16], version=5).int}"  # PS3.5 B.2: UUID-derived UID

    def pseudonym(self, original_patient_id: str) -> str:
        """``ANON-`` and 10 hex digits of a keyed hash of the original Patient ID."""
        digest = hashlib.sha256(f"patient:{self.key}:{original_patient_id}".encode()).hexdigest()
        return f"ANON-{digest[:10].upper()}"

    def shift_date(self, value: str, vr: str) -> str:
        """A DA (``YYYYMMDD``) or DT (``YYYYMMDD[HHMMSS…]``) value moved back by the date shift."""
        text = str(value).strip()
        if len(text) < 8 or not text[:8].isdigit():
            return ""  # not a date we can shift: empty is what the profile's Z allows
        try:
            day = _dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        except ValueError:
            return ""
        assert self.date_shift_days is not None
        shifted = day - _dt.timedelta(days=self.date_shift_days)
        return shifted.strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")

    # ------------------------------------------------------------- apply
    def _rule(self, group: int, element: int) -> Callable[..., Any] | None:
        action = self._exact.get((group, element))
        if action is not None:
            return action
        for (g, e, gmask, emask), masked_action in self._masked:
            if group & gmask == g & gmask and element & emask == e & emask:
                return masked_action
        return None

    def _shift(self, elem: Any) -> None:
        if elem.VM > 1:
            elem.value = [self.shift_date(v, elem.VR) for v in elem.value]
        elif elem.value not in (None, ""):
            elem.value = self.shift_date(elem.value, elem.VR)

    def _remap(self, elem: Any) -> None:
        if elem.VM > 1:
            elem.value = [self.new_uid(v) for v in elem.value]
        elif elem.value not in (None, ""):
            elem.value = self.new_uid(elem.value)

    def _clean(self, ds: Any, pseudonym: str, name: str) -> None:
        for elem in list(ds):
            tag = elem.tag
            if tag.is_private:
                del ds[tag]
                continue
            keyword = elem.keyword
            if keyword == "PatientID":
                elem.value = pseudonym
                continue
            if keyword == "PatientName":
                elem.value = name
                continue
            if self.keep_patient_characteristics and keyword in PATIENT_CHARACTERISTICS:
                continue
            if elem.VR in _DATE_VRS:
                self._shift(elem)  # Modified Dates Option: shifted whatever the table says
                continue
            action = self._rule(tag.group, tag.element)
            action_name = _action_name(action) if action is not None else "keep"
            if elem.VR == "UI" and action_name in ("replace_UID", "delete_or_empty_or_replace_UID"):
                self._remap(elem)
                continue
            if action is None or action_name == "keep":
                if elem.VR == "SQ":
                    for item in elem.value:
                        self._clean(item, pseudonym, name)
                continue
            if elem.VR == "SQ" and action_name == "delete_or_empty_or_replace_UID":
                # X/Z/U*: keep the sequence, with its contained UIDs replaced (and the rest cleaned)
                for item in elem.value:
                    self._clean(item, pseudonym, name)
                continue
            if elem.VR == "TM":
                continue  # times of day are kept: the whole-day date shift leaves them consistent
            action(ds, (tag.group, tag.element))

    def dataset(self, ds: Any) -> Any:
        """De-identify a pydicom dataset in place (and its ``file_meta``); returns it."""
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence as DicomSequence

        original_id = str(ds.get("PatientID", "") or "")
        pseudonym = self.patient_id or self.pseudonym(original_id)
        name = self.patient_name or pseudonym
        self._clean(ds, pseudonym, name)
        if "PatientID" not in ds:
            ds.PatientID = pseudonym
        if "PatientName" not in ds:
            ds.PatientName = name
        meta = getattr(ds, "file_meta", None)
        if meta is not None and "SOPInstanceUID" in ds:
            meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientIdentityRemoved = "YES"
        methods = [("113100", "Basic Application Confidentiality Profile"),
                   ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")]
        if self.keep_patient_characteristics:
            methods.append(("113108", "Retain Patient Characteristics Option"))
        ds.DeidentificationMethod = "PS3.15 Basic Profile, dates shifted (workstation)"
        items = []
        for value, meaning in methods:
            item = Dataset()
            item.CodeValue = value
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = meaning
            items.append(item)
        ds.DeidentificationMethodCodeSequence = DicomSequence(items)
        return ds


@dataclass
class AnonymizeResult:
    """What :func:`anonymize` wrote and skipped.

    Attributes
    ----------
    files:
        Written files.
    skipped:
        ``(input file, reason)`` for documents not written.
    date_shift_days:
        Days every date was moved back.
    """

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    date_shift_days: int = 0


def anonymize(
    inputs: list[str | os.PathLike[str]] | str | os.PathLike[str],
    output: str | os.PathLike[str],
    deidentifier: Deidentifier | None = None,
) -> AnonymizeResult:
    """De-identify DICOM files and folders into ``output`` (all or nothing).

    Output files are ``OUTPUT/<new SeriesInstanceUID>/<new SOPInstanceUID>.dcm``.
    Inputs are never changed.

    Raises
    ------
    InvalidInputError
        No DICOM file among the inputs, or an output inside an input.
    DicomError
        A file that cannot be read or written as DICOM (named).
    """
    import pydicom

    from workstation.io import atomic_directory, ensure_not_input
    from workstation.pacs.network import dicom_files

    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    ensure_not_input(output, *items)
    files = dicom_files(items)
    deid = deidentifier or Deidentifier()
    result = AnonymizeResult(date_shift_days=int(deid.date_shift_days or 0))
    out = Path(output)
    with atomic_directory(out) as tmp:
        for path in files:
            try:
                ds = pydicom.dcmread(path)
            except Exception as exc:  # noqa: BLE001 - any parse failure is a bad input file
                raise DicomError(f"{path}: cannot be read as DICOM ({exc}).") from None
            sop_class = str(ds.get("SOPClassUID", "") or "")
            if sop_class in _DOCUMENT_CLASSES:
                result.skipped.append(
                    (path, f"{_DOCUMENT_CLASSES[sop_class]}; regenerate it from the de-identified images")
                )
                continue
            deid.dataset(ds)
            series = str(ds.get("SeriesInstanceUID", "") or "unknown-series")
            sop = str(ds.get("SOPInstanceUID", "") or deid.new_uid(str(path)))
            target = tmp / series / f"{sop}.dcm"
            if target.exists():
                raise DicomError(f"{path}: the same instance appears twice among the inputs.")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                ds.save_as(target, enforce_file_format=True)
            except Exception as exc:  # noqa: BLE001 - a dataset pydicom cannot encode is a bad input
                raise DicomError(f"{path}: cannot be written after de-identification ({exc}).") from None
            result.files.append(out / series / f"{sop}.dcm")
    return result
