"""Bundled sentiment data set: the generator reproduces the shipped files (dataset, issue 4)."""
from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import numpy as np
import pytest

from course_utils.data.generate import build, plan, speech, text

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "sentiment"
INFO = json.loads((DATA / "generation.json").read_text(encoding="utf-8"))
SAMPLE = ["u0000", "u0001", "u0137", "u0500", "u0999"]


def _shipped_rows() -> dict[str, dict[str, str]]:
    with open(DATA / "metadata.csv", newline="", encoding="utf-8") as fh:
        return {r["id"]: r for r in csv.DictReader(fh)}


def test_plan_reproduces_every_metadata_row_and_text():
    shipped = _shipped_rows()
    rows = build.plan_rows(INFO["seed"])
    assert [r["id"] for r in rows] == list(shipped)
    for row in rows:
        want = dict(shipped[row["id"]])
        want["duration_s"] = ""
        assert {k: str(v) for k, v in row.items()} == want


def test_images_are_byte_identical():
    fresh = build.sample_rendering(SAMPLE, INFO["seed"], audio=False)
    for item_id in SAMPLE:
        assert fresh[item_id]["png"] == (DATA / "images" / f"{item_id}.png").read_bytes(), item_id


@pytest.mark.skipif(speech.espeak_binary() is None,
                    reason="espeak-ng is not installed (`make system-deps`); audio cannot be regenerated")
def test_audio_is_byte_identical_for_the_same_espeak_version():
    if speech.espeak_version() != INFO["tools"]["espeak-ng"]:
        pytest.skip(f"espeak-ng {speech.espeak_version()} here, the data set was made with "
                    f"{INFO['tools']['espeak-ng']}: audio may legitimately differ")
    import soundfile

    if soundfile.__libsndfile_version__ != INFO["tools"]["libsndfile"]:
        pytest.skip("a different libsndfile (Vorbis encoder) than the one that made the data set")
    fresh = build.sample_rendering(SAMPLE[:3], INFO["seed"], audio=True)
    for item_id in SAMPLE[:3]:
        assert fresh[item_id]["ogg"] == (DATA / "audio" / f"{item_id}.ogg").read_bytes(), item_id


def test_plan_is_deterministic_and_speaker_independent():
    a, b = plan.make_plan(7), plan.make_plan(7)
    assert [(i.text, i.score, i.audio, i.face) for i in a.items] == [(i.text, i.score, i.audio, i.face) for i in b.items]
    assert [i.text for i in plan.make_plan(8).items] != [i.text for i in a.items]
    split_of = {sid: s["split"] for sid, s in a.speakers.items()}
    assert {split_of[i.speaker] for i in a.items if i.split == "test"} == {"test"}
    counts = {s: sum(i.split == s for i in a.items) for s in ("train", "valid", "test")}
    assert counts == {"train": 700, "valid": 150, "test": 150}


def test_irony_uses_the_same_templates_as_sincere_items():
    p = plan.make_plan(INFO["seed"])
    ironic = {i.template_id.split("/")[1].rsplit("-", 1)[0] for i in p.items if i.kind == "ironic"}
    assert ironic <= {"plain", "negation"}
    for item in p.items:
        if item.kind == "ironic":
            assert item.label_binary == int(item.latent >= 0)


def test_grammar_examples():
    rng = random.Random(3)
    for kind in text.KINDS:
        for domain in text.DOMAINS:
            tid, sentence = text.make_text(rng, kind, domain, +1, 2)
            assert tid.startswith(f"{domain}/") and sentence[0].isupper() and sentence[-1] in ".!"
    tid, sentence = text.make_text(random.Random(0), "contrast", "film", -1, 3)
    assert tid.startswith("film/contrast-")
    with pytest.raises(ValueError):
        text.make_text(rng, "sarcastic", "film", 1, 1)


def test_ogg_serial_rewrite_keeps_a_valid_stream():
    import soundfile as sf

    x = (0.1 * np.sin(np.linspace(0, 400, 16000))).astype(np.float32)
    a, b = speech.encode_ogg(x, serial=1234), speech.encode_ogg(x, serial=1234)
    assert a == b and a[14:18] == (1234).to_bytes(4, "little")
    y, sr = sf.read(io.BytesIO(a), dtype="float32")
    assert sr == 16000 and abs(len(y) - len(x)) < 2000 and np.corrcoef(x[:len(y)], y[:len(x)])[0, 1] > 0.9


def test_cli_without_espeak_fails_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]):
    from course_utils.data.generate.__main__ import main

    monkeypatch.setattr(speech, "espeak_binary", lambda: None)
    assert main(["--out", str(tmp_path / "x"), "--quiet"]) == 2
    assert "espeak-ng" in capsys.readouterr().err and not (tmp_path / "x").exists()
