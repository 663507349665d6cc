"""DIMSE and DICOMweb against a real Orthanc: echo, find, get, move, send, and every bad input.

The sample SPECT/CT study is put into Orthanc through its REST API (independent
of the code under test); what we retrieve must be byte-for-byte the pixel data
and the UIDs of the sample files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.pacs import fake_scp
from tests.pacs.orthanc import OUR_AET, OrthancServer
from workstation.cli import main
from workstation.core.errors import DicomError, InvalidInputError
from workstation.io import read_image
from workstation.pacs import LocalAE, echo, find, parse_node, retrieve, send
from workstation.samples import sample_data_dir

SIRT = sample_data_dir() / "sirt"


def _truth() -> dict[str, str]:
    import json

    t = json.loads((SIRT / "ground_truth" / "truth.json").read_text())
    return {"study": t["study_instance_uid"], "ct": t["series"]["ct"], "spect": t["series"]["spect"]}


def _one_sentence(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_echo_dimse_and_web(orthanc: OrthancServer) -> None:
    node, local = parse_node(orthanc.dimse_node)
    assert echo(node, local) > 0.0
    web, _ = parse_node(orthanc.dicomweb_url)
    assert echo(web) == 0.0


@pytest.mark.parametrize("protocol", ["dimse", "web"])
def test_find_study_and_series_filters(loaded: OrthancServer, protocol: str) -> None:
    uids = _truth()
    node, local = parse_node(loaded.dimse_node if protocol == "dimse" else loaded.dicomweb_url)
    studies = find(node, "study", local, patient_id="WS-SIRT-001")
    assert [s["StudyInstanceUID"] for s in studies] == [uids["study"]]
    assert set(studies[0]["ModalitiesInStudy"].split("\\")) == {"CT", "NM"}
    assert find(node, "study", local, patient_name="SAMP*", date="2026-01-19")
    assert find(node, "study", local, patient_id="WS-?IRT-0*", modality="NM")
    assert find(node, "study", local, date="20250101-20251231") == []
    series = find(node, "series", local, study_uid=uids["study"], modality="NM")
    assert [(s["SeriesInstanceUID"], s["NumberOfSeriesRelatedInstances"]) for s in series] == [(uids["spect"], "1")]
    ct = find(node, "series", local, series_uid=uids["ct"])
    assert ct[0]["Modality"] == "CT" and ct[0]["NumberOfSeriesRelatedInstances"] == "88"


@pytest.mark.parametrize("how", ["get", "move", "web"])
def test_retrieve_series_equal_to_the_sample(loaded: OrthancServer, tmp_path: Path, how: str) -> None:
    uids = _truth()
    if how == "web":
        node, local = parse_node(loaded.dicomweb_url)
    else:
        node, local = parse_node(loaded.dimse_node)
        local = LocalAE(aet=OUR_AET, port=loaded.move_port)
    result = retrieve(node, tmp_path / "out", series_uid=uids["spect"], local=local, method=how
                      if how != "web" else None, bind_address="127.0.0.1")
    assert result.series == {uids["spect"]: 1}
    got = pydicom.dcmread(result.files[0])
    want = pydicom.dcmread(next((SIRT / "spect").glob("*.dcm")))
    assert got.SOPInstanceUID == want.SOPInstanceUID and got.StudyInstanceUID == uids["study"]
    assert np.array_equal(got.pixel_array, want.pixel_array)
    vol, ref = read_image(tmp_path / "out" / uids["spect"]), read_image(SIRT / "spect")
    assert np.array_equal(vol.affine, ref.affine) and np.array_equal(vol.array, ref.array)


def test_cli_pacs_commands(loaded: OrthancServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uids = _truth()
    assert main(["pacs", "echo", "--node", loaded.dimse_node]) == 0
    assert "answers C-ECHO" in capsys.readouterr().out
    assert main(["pacs", "find", "--node", loaded.dicomweb_url, "--patient-id", "WS-SIRT-001", "--json"]) == 0
    assert uids["study"] in capsys.readouterr().out
    nodes = tmp_path / "nodes.toml"
    nodes.write_text(f'[local]\naet = "{OUR_AET}"\n[nodes.orthanc]\naet = "ORTHANC"\n'
                     f'host = "127.0.0.1"\nport = {loaded.dicom_port}\n')
    out = tmp_path / "got"
    assert main(["--quiet", "pacs", "get", "--node", "orthanc", "--nodes", str(nodes),
                 "--study-uid", uids["study"], "-o", str(out)]) == 0
    assert len(list((out / uids["ct"]).glob("*.dcm"))) == 88
    assert len(list((out / uids["spect"]).glob("*.dcm"))) == 1


def test_pacs_image_spec_reads_through_the_cache(
    loaded: OrthancServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import workstation.cli.pacs  # noqa: F401 - registers the pacs:// resolver, as the CLI does

    uids = _truth()
    monkeypatch.setenv("WORKSTATION_CACHE", str(tmp_path / "cache"))
    spec = f"pacs://{loaded.dimse_node}/{uids['spect']}"
    vol = read_image(spec)
    assert np.array_equal(vol.array, read_image(SIRT / "spect").array)
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached series was retrieved again")

    monkeypatch.setattr("workstation.pacs.cache.retrieve", no_network)
    assert np.array_equal(read_image(spec).array, vol.array)
    out = tmp_path / "spect.nii.gz"
    assert main(["--quiet", "convert", spec, "-o", str(out)]) == 0 and out.is_file()


def test_send_refused_sop_class_names_the_file(orthanc: OrthancServer, tmp_path: Path) -> None:
    # Orthanc is configured to refuse unknown SOP classes: a private SOP class cannot be stored
    ds = fake_scp.series_datasets(1)[0]
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.3.4.5.6.7"
    bad = tmp_path / "odd.dcm"
    ds.save_as(bad, enforce_file_format=True)
    node, local = parse_node(orthanc.dimse_node)
    with pytest.raises(DicomError, match="odd.dcm"):
        send(node, [bad], local)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("node_of", "aet", "words"),
    [
        (lambda o: f"ORTHANC@127.0.0.1:{_closed_port()}", None, "refused the connection"),
        (lambda o: f"NOT_ORTHANC@127.0.0.1:{o.dicom_port}", None, "Called AE title not recognised"),
        (lambda o: o.dimse_node, "STRANGER", "Calling AE title not recognised"),
        (lambda o: f"http://127.0.0.1:{_closed_port()}/dicom-web", None, "cannot be reached"),
        (lambda o: "ORTHANC@no-such-host.invalid:4242", None, "is unknown"),
    ],
)
def test_unreachable_or_refused_exit_2(
    orthanc: OrthancServer, capsys: pytest.CaptureFixture[str], node_of, aet: str | None, words: str
) -> None:
    args = ["pacs", "echo", "--node", node_of(orthanc), "--timeout", "5"]
    if aet:
        args += ["--aet", aet]
    assert main(args) == 2
    assert words in _one_sentence(capsys)


def _closed_port() -> int:
    from tests.pacs.orthanc import free_port

    return free_port()  # nothing listens there once the probe socket is closed


def test_empty_query_exit_2(orthanc: OrthancServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", "--node", orthanc.dimse_node, "--patient-id", "NOBODY"]) == 2
    assert "No study" in _one_sentence(capsys)
    out = tmp_path / "out"
    assert main(["pacs", "get", "--node", orthanc.dicomweb_url, "--series-uid", "1.2.3.4", "-o", str(out)]) == 2
    assert "has no series 1.2.3.4" in _one_sentence(capsys)
    assert not any(out.rglob("*.dcm"))


def test_bad_options_exit_2(orthanc: OrthancServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacs", "find", "--node", orthanc.dimse_node, "--date", "2026-13-01"]) == 2
    assert "--date" in _one_sentence(capsys)
    assert main(["pacs", "get", "--node", orthanc.dimse_node, "--study-uid", "1.2.x", "-o", str(tmp_path)]) == 2
    assert "not a DICOM UID" in _one_sentence(capsys)
    with pytest.raises(InvalidInputError, match="--study-uid or --series-uid"):
        retrieve(parse_node(orthanc.dimse_node)[0], tmp_path / "x")


@pytest.mark.parametrize("abort", [False, True])
def test_half_received_series_keeps_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], abort: bool
) -> None:
    with fake_scp.faulty_scp(announced=3, sent=2, abort=abort) as (port, datasets):
        out = tmp_path / "out"
        code = main(["pacs", "get", "--node", f"{fake_scp.AET}@127.0.0.1:{port}", "--timeout", "10",
                     "--series-uid", str(datasets[0].SeriesInstanceUID), "-o", str(out)])
    assert code == 2
    err = _one_sentence(capsys)
    assert ("interrupted" if abort else "2 of the 3 instances") in err and "nothing was kept" in err
    assert not any(p.is_file() for p in out.rglob("*"))
