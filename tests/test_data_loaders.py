"""Bundled sentiment data set: loaders, integrity checks, light import (dataset, issue 4)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from course_utils import data
from course_utils.data import integrity

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "sentiment"
HEAVY = ["torch", "tensorflow", "keras", "librosa", "sklearn", "pandas", "numba", "PIL", "soundfile", "scipy"]


def test_import_course_utils_data_is_light():
    code = ("import sys, json, course_utils, course_utils.data, course_utils.data.integrity, "
            "course_utils.data.generate; "
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert json.loads(out) == []


def test_public_names_resolve_and_are_documented():
    for name in data.__all__:
        obj = getattr(data, name)
        if callable(obj) and not isinstance(obj, type(Exception)) and hasattr(obj, "__doc__"):
            assert obj.__doc__ and ("lesson" in obj.__doc__ or "issue 4" in obj.__doc__), name


def test_records_and_splits():
    recs = data.load_records()
    assert len(recs) == 1000
    by_split = {s: [r for r in recs if r["split"] == s] for s in data.SPLITS}
    assert [len(by_split[s]) for s in data.SPLITS] == [700, 150, 150]
    speakers = {s: {r["speaker"] for r in rs} for s, rs in by_split.items()}
    assert not speakers["train"] & speakers["test"]
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["valid"] & speakers["test"]
    for r in recs:
        assert -3 <= r["score"] <= 3
        assert r["label_binary"] == int(r["score"] >= 0)
        assert r["label_7"] == int(np.round(r["score"]))
        assert r["audio_path"] == f"audio/{r['id']}.ogg" and r["image_path"] == f"images/{r['id']}.png"
    assert data.load_records("test") == by_split["test"]
    with pytest.raises(ValueError, match="split"):
        data.load_records("dev")


def test_metadata_frame():
    df = data.load_metadata("valid")
    assert len(df) == 150 and df.index[0] == df["id"].iloc[0]
    assert {"text", "score", "label_binary", "label_7", "ironic", "speaker", "domain", "template_id"} <= set(df.columns)
    assert df["score"].dtype.kind == "f" and df["label_binary"].dtype.kind == "i"


def test_audio_and_image_arrays():
    wave = data.load_audio("u0000")
    assert wave.dtype == np.float32 and wave.ndim == 1 and 0.5 * 16000 < wave.size < 12 * 16000
    assert np.abs(wave).max() <= 1.0 and wave.std() > 1e-3
    img = data.load_image(data.load_records()[0])
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    arrays = data.load_arrays("test", modalities=("text", "image"))
    assert arrays["image"].shape == (150, 64, 64, 3)
    assert len(arrays["text"]) == 150 and "audio" not in arrays
    assert arrays["label"].dtype == np.int64 and arrays["ironic"].dtype == bool


@pytest.fixture()
def copy_of_dataset(tmp_path: Path) -> Path:
    dst = tmp_path / "sentiment"
    shutil.copytree(DATA, dst, ignore=shutil.ignore_patterns(".cache"))
    return dst


def test_verify_passes_on_the_shipped_data():
    assert data.verify_dataset() == len(integrity.read_manifest()) > 2000


def test_missing_file_names_it_and_says_how_to_restore(copy_of_dataset: Path):
    (copy_of_dataset / "images" / "u0007.png").unlink()
    with pytest.raises(data.MissingDataFileError) as err:
        data.load_image("u0007", root=copy_of_dataset)
    msg = str(err.value)
    assert "images/u0007.png" in msg and "git checkout -- datasets/sentiment" in msg and "make dataset" in msg
    with pytest.raises(FileNotFoundError):  # also a DataNotFoundError / FileNotFoundError
        data.verify_dataset(copy_of_dataset)


def test_corrupted_file_is_detected(copy_of_dataset: Path):
    path = copy_of_dataset / "audio" / "u0003.ogg"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(data.CorruptDataFileError, match="audio/u0003.ogg"):
        data.load_audio("u0003", root=copy_of_dataset)
    # an edited metadata.csv is caught too
    meta = copy_of_dataset / "metadata.csv"
    meta.write_text(meta.read_text(encoding="utf-8").replace("u0001,", "u9999,", 1), encoding="utf-8")
    with pytest.raises(data.CorruptDataFileError, match="metadata.csv"):
        data.load_records(root=copy_of_dataset)
    # verify=False skips the hash check (and still names undecodable files)
    assert len(data.load_records(root=copy_of_dataset, verify=False)) == 1000


def test_missing_manifest(copy_of_dataset: Path):
    (copy_of_dataset / "MANIFEST.sha256").unlink()
    with pytest.raises(data.MissingDataFileError, match="MANIFEST.sha256"):
        data.load_records(root=copy_of_dataset)


def test_verify_command(capsys: pytest.CaptureFixture[str], copy_of_dataset: Path):
    from course_utils.data.__main__ import main

    assert main(["verify", "--root", str(copy_of_dataset)]) == 0
    (copy_of_dataset / "audio" / "u0010.ogg").unlink()
    assert main(["verify", "--root", str(copy_of_dataset)]) == 2
    assert "audio/u0010.ogg" in capsys.readouterr().err
