"""Render the planned utterances and write the data set folder (dataset, issue 4).

Output layout (``--out``, normally ``datasets/sentiment``)::

    metadata.csv        one row per utterance (see METADATA_COLUMNS)
    audio/<id>.ogg      16 kHz mono Ogg/Vorbis
    images/<id>.png     64x64 RGB face
    generation.json     seed, latent configuration, tool versions (espeak-ng!)
    MANIFEST.sha256     sha256 of every file above
    README.md           the datasheet (tables filled by ``python -m course_utils.data report``)
"""
from __future__ import annotations

import csv
import io
import json
import os
import platform
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterable


from . import face as face_mod
from . import speech
from .plan import DEFAULT_SEED, Item, LatentConfig, Plan, item_rng, make_plan

METADATA_COLUMNS: tuple[str, ...] = (
    "id", "split", "speaker", "voice", "gender", "domain", "kind", "template_id", "text",
    "audio_path", "image_path", "score", "label_binary", "label_7",
    "ironic", "contrast", "negation", "neutral",
    "snr_db", "noise", "occlusion", "skin_tone", "duration_s",
)


def metadata_row(item: Item, plan: Plan, duration_s: float | None) -> dict[str, Any]:
    """The ``metadata.csv`` row of one item (dataset, issue 4)."""
    return {
        "id": item.id, "split": item.split, "speaker": item.speaker, "voice": item.voice,
        "gender": item.gender, "domain": item.domain, "kind": item.kind,
        "template_id": item.template_id, "text": item.text,
        "audio_path": item.audio_path, "image_path": item.image_path,
        "score": f"{item.score:.1f}", "label_binary": item.label_binary, "label_7": item.label_7,
        "ironic": int(item.kind == "ironic"), "contrast": int(item.kind == "contrast"),
        "negation": int("/negation-" in item.template_id), "neutral": int(item.kind == "neutral"),
        "snr_db": f"{item.audio['snr_db']:.1f}", "noise": item.audio["noise"],
        "occlusion": item.face["occlusion"],
        "skin_tone": plan.speakers[item.speaker]["identity"]["skin"] + 1,
        "duration_s": "" if duration_s is None else f"{duration_s:.3f}",
    }


def metadata_csv(rows: Iterable[dict[str, Any]]) -> str:
    """CSV text (``\\n`` line ends, UTF-8) for metadata rows (dataset, issue 4)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(METADATA_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return buf.getvalue()


def render_image(item: Item, plan: Plan) -> bytes:
    """PNG bytes of one item's face (dataset, issue 4)."""
    identity = plan.speakers[item.speaker]["identity"]
    return face_mod.png_bytes(face_mod.render_face(identity, item.face))


def render_audio(item: Item, plan: Plan) -> tuple[bytes, float]:
    """Ogg bytes and duration (s) of one item's speech (dataset, issue 4). Needs espeak-ng."""
    wave = speech.render_speech(item.text, item.voice, item.audio, item_rng(plan.seed, item.idx, 1))
    serial = (plan.seed * 7919 + item.idx) & 0x7FFFFFFF
    return speech.encode_ogg(wave, serial), wave.size / speech.SR


def _render_one(args: tuple[Item, Plan, bool]) -> tuple[str, bytes, bytes | None, float | None]:
    item, plan, with_audio = args
    png = render_image(item, plan)
    if not with_audio:
        return item.id, png, None, None
    ogg, dur = render_audio(item, plan)
    return item.id, png, ogg, dur


def tool_versions() -> dict[str, str | None]:
    """Versions of everything that shapes the bytes of the data set (dataset, issue 4)."""
    import importlib.metadata as md

    versions: dict[str, str | None] = {"espeak-ng": speech.espeak_version(), "python": platform.python_version()}
    for dist in ("numpy", "scipy", "pillow", "soundfile"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    try:
        import soundfile

        versions["libsndfile"] = soundfile.__libsndfile_version__
    except Exception:  # pragma: no cover - soundfile missing
        versions["libsndfile"] = None
    return versions


def generate(out: str | os.PathLike[str], seed: int = DEFAULT_SEED, *, jobs: int | None = None,
             config: LatentConfig | None = None, report: bool = True, verbose: bool = True) -> Path:
    """Regenerate the whole data set into ``out`` (dataset, issue 4; ``make dataset``).

    Deterministic from ``seed``: the same seed and tool versions give the same
    bytes. ``jobs`` worker processes render the items (default: all cores).
    With ``report`` the baseline table is computed and written into the
    datasheet afterwards (needs scikit-learn).
    """
    if speech.espeak_binary() is None:
        raise speech.EspeakNotFoundError(
            "espeak-ng is needed to generate the audio. Install it with "
            "`sudo apt-get install -y espeak-ng` (or `make system-deps`), then rerun."
        )
    t0 = time.perf_counter()
    out = Path(out)
    plan = make_plan(seed, config)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    (tmp / "audio").mkdir(parents=True)
    (tmp / "images").mkdir()
    jobs = jobs or os.cpu_count() or 1
    durations: dict[str, float] = {}
    tasks = [(item, plan, True) for item in plan.items]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = pool.map(_render_one, tasks, chunksize=16)
            _write_results(results, tmp, durations, verbose, len(tasks))
    else:
        _write_results(map(_render_one, tasks), tmp, durations, verbose, len(tasks))

    rows = [metadata_row(item, plan, durations[item.id]) for item in plan.items]
    (tmp / "metadata.csv").write_text(metadata_csv(rows), encoding="utf-8")
    info = {
        "dataset": "course sentiment (synthetic tri-modal)",
        "seed": seed,
        "n_items": len(plan.items),
        "generator": "python -m course_utils.data.generate",
        "config": plan.config.to_dict(),
        "speakers": plan.speakers,
        "tools": tool_versions(),
    }
    (tmp / "generation.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n", encoding="utf-8")

    from .. import integrity
    from .datasheet import render_datasheet

    # keep a hand-edited or report-filled datasheet's tables if present; they are recomputed below
    old_readme = out / "README.md"
    previous = old_readme.read_text(encoding="utf-8") if old_readme.is_file() else None
    (tmp / "README.md").write_text(render_datasheet(info, previous), encoding="utf-8")
    integrity.write_manifest(tmp)

    cache = out / ".cache"
    if out.exists():
        if cache.is_dir():
            shutil.move(str(cache), str(tmp / ".cache"))
        shutil.rmtree(out)
    tmp.rename(out)
    if verbose:
        print(f"generated {len(plan.items)} items into {out} in {time.perf_counter() - t0:.1f} s")
    if report:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("scikit-learn is not installed: skipped the baseline report "
                  "(install it, then run `python -m course_utils.data report`)")
            return out
        from ..report import run_report

        run_report(root=out, write=True, verbose=verbose)
    return out


def _write_results(results: Iterable[tuple[str, bytes, bytes | None, float | None]], tmp: Path,
                   durations: dict[str, float], verbose: bool, total: int) -> None:
    for n, (item_id, png, ogg, dur) in enumerate(results, 1):
        (tmp / "images" / f"{item_id}.png").write_bytes(png)
        if ogg is not None:
            (tmp / "audio" / f"{item_id}.ogg").write_bytes(ogg)
            durations[item_id] = float(dur or 0.0)
        if verbose and n % 100 == 0:
            print(f"  rendered {n}/{total}", flush=True)


def sample_rendering(ids: Iterable[str], seed: int = DEFAULT_SEED, *, audio: bool = True,
                     config: LatentConfig | None = None) -> dict[str, dict[str, Any]]:
    """Re-render only the given item ids (for reproducibility checks) (dataset, issue 4).

    Returns ``{id: {"row": metadata row without duration, "png": bytes, "ogg": bytes or None}}``.
    """
    plan = make_plan(seed, config)
    by_id = {item.id: item for item in plan.items}
    out: dict[str, dict[str, Any]] = {}
    for item_id in ids:
        item = by_id[item_id]
        ogg = render_audio(item, plan)[0] if audio else None
        out[item_id] = {"row": metadata_row(item, plan, None), "png": render_image(item, plan), "ogg": ogg}
    return out


def plan_rows(seed: int = DEFAULT_SEED, config: LatentConfig | None = None) -> list[dict[str, Any]]:
    """All metadata rows (without durations) from the plan alone; no rendering (dataset, issue 4)."""
    plan = make_plan(seed, config)
    return [metadata_row(item, plan, None) for item in plan.items]


__all__ = ["METADATA_COLUMNS", "generate", "sample_rendering", "plan_rows", "tool_versions",
           "metadata_row", "metadata_csv", "render_image", "render_audio"]
