"""Benchmarks for the bundled sentiment data set (issue 4; run with `make bench`).

Targets: the data set is <= 40 MB; metadata + all 1000 images load in < 5 s;
decoding all audio takes < 30 s on 2 cores. Each timing runs in a fresh Python
process (imports included). Also reported, without targets: the full manifest
check, MFCC extraction for all clips (uncached) and, with ``--generate``, the
time to regenerate the whole data set into a temporary folder.
Prints measurements; exits non-zero when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "datasets" / "sentiment"


def _timed(code: str) -> float:
    """Run ``code`` in a fresh interpreter; it prints the seconds it measured as its last line."""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def dataset_bytes() -> int:
    return sum(p.stat().st_size for p in DATA.rglob("*")
               if p.is_file() and not any(part.startswith(".") for part in p.relative_to(DATA).parts))


BENCHES = {
    "import course_utils.data": (
        "import time; t=time.perf_counter(); import course_utils.data; print(time.perf_counter()-t)"),
    "metadata + all images (verified)": (
        "import time; t=time.perf_counter(); from course_utils import data; r=data.load_records(); "
        "x=data.load_images(r); assert x.shape==(1000,64,64,3); print(time.perf_counter()-t)"),
    "metadata DataFrame (pandas)": (
        "import time; t=time.perf_counter(); from course_utils import data; df=data.load_metadata(); "
        "assert len(df)==1000; print(time.perf_counter()-t)"),
    "decode all audio, 2 threads (verified)": (
        "import time; t=time.perf_counter(); from course_utils import data; r=data.load_records(); "
        "w=data.load_audios(r, workers=2); assert len(w)==1000; print(time.perf_counter()-t)"),
    "decode all audio, 1 thread": (
        "import time; t=time.perf_counter(); from course_utils import data; r=data.load_records(); "
        "w=data.load_audios(r, workers=1, verify=False); print(time.perf_counter()-t)"),
    "verify whole manifest": (
        "import time; t=time.perf_counter(); from course_utils import data; n=data.verify_dataset(); "
        "print(time.perf_counter()-t)"),
    "MFCC stats, all clips, uncached": (
        "import time; t=time.perf_counter(); from course_utils import data; "
        "ids, X = data.audio_features(use_cache=False); assert X.shape==(1000,80); print(time.perf_counter()-t)"),
}
TARGETS = {"metadata + all images (verified)": 5.0, "decode all audio, 2 threads (verified)": 30.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate", action="store_true", help="also time a full regeneration (needs espeak-ng)")
    args = parser.parse_args(argv)
    ok = True
    size = dataset_bytes()
    print(f"{'data set size':42s} {size / 1e6:8.1f} MB   target <= 40 MB")
    ok &= size <= 40e6
    for name, code in BENCHES.items():
        seconds = _timed(code)
        target = TARGETS.get(name)
        note = f"target < {target:g} s" if target else ""
        print(f"{name:42s} {seconds:8.2f} s    {note}")
        if target is not None:
            ok &= seconds < target
    if args.generate:
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "course_utils.data.generate", "--out", os.path.join(tmp, "s"),
                            "--no-report", "--quiet"], check=True, cwd=ROOT)
            print(f"{'regenerate everything (no report)':42s} {time.perf_counter() - t:8.2f} s    target < 300 s")
    print(f"(cores: {os.cpu_count()})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
