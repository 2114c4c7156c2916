"""course_utils.distributed: DDP on CPU with gloo, one process and two via torchrun (lesson 11)."""
import os
import tempfile
import time

import pytest

from course_utils.config import CourseError
from course_utils.distributed import DistributedError, launch, main, parse_args

KEYS = {"world_size", "backend", "data", "local_batch", "global_batch", "steps_per_epoch", "epochs", "wall_time_s",
        "epoch_loss", "grad_max_diff", "grad_tol", "grad_ok", "test_accuracy"}


def _procs_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (Linux /proc), ignoring zombies already reaped."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{d}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmd and state != "Z":
            pids.append(int(d))
    return pids


def _gone(text: str, wait: float = 10.0) -> bool:
    end = time.monotonic() + wait
    while _procs_mentioning(text) and time.monotonic() < end:
        time.sleep(0.2)
    return not _procs_mentioning(text)


def _check_schema(r, world):
    assert KEYS <= set(r)
    assert r["world_size"] == world and r["backend"] == "gloo"
    assert r["global_batch"] == world * r["local_batch"]
    assert len(r["epoch_loss"]) == r["epochs"] and all(x > 0 for x in r["epoch_loss"])
    assert r["grad_ok"] is True and 0 <= r["grad_max_diff"] <= 1e-6
    assert 0.0 <= r["test_accuracy"] <= 1.0 and r["wall_time_s"] >= 0


def test_single_process_world_of_one(tmp_path):
    out = tmp_path / "one.json"
    r = main(["--epochs", "2", "--batch-size", "64", "--n-train", "512", "--out", str(out)])
    _check_schema(r, 1)
    assert out.exists()
    import torch.distributed as dist
    assert not dist.is_initialized()  # destroy_process_group ran
    assert r["test_accuracy"] > 0.6  # learnable synthetic task


def test_two_processes_match_one_process_union_batch(tmp_path, monkeypatch):
    out = tmp_path / "two.json"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    r = launch(2, ["--epochs", "2", "--batch-size", "32", "--n-train", "512", "--out", str(out)], timeout=240)
    _check_schema(r, 2)
    assert r["grad_max_diff"] <= 1e-6
    assert _gone(str(out)), "torchrun workers left behind"
    assert not list(tmp.iterdir()), "launch left files in the temporary folder (torchelastic logs?)"
    # same global batch (2 x 32 = 64) in one process: the union batches coincide, so training matches
    one = main(["--epochs", "2", "--batch-size", "64", "--n-train", "512"])
    assert one["epoch_loss"] == pytest.approx(r["epoch_loss"], abs=1e-4)


def test_launch_timeout_kills_the_process_group(tmp_path):
    out = tmp_path / "slow.json"
    with pytest.raises(DistributedError, match="did not finish"):
        launch(2, ["--out", str(out)], timeout=0.5)
    assert _gone(str(out)), "processes left behind after a timeout"


@pytest.mark.parametrize("argv", [["--epochs", "0"], ["--data", "imagenet"], ["--batch-size", "x"], ["--bogus"]])
def test_bad_arguments_raise_course_error(argv):
    with pytest.raises(DistributedError) as e:
        parse_args(argv)
    assert isinstance(e.value, CourseError) and isinstance(e.value, ValueError)


def test_bad_launch_arguments():
    with pytest.raises(DistributedError, match="nproc"):
        launch(0)
    with pytest.raises(DistributedError, match="--epochs"):
        launch(2, ["--epochs", "-1"])  # rejected before torchrun starts
    with pytest.raises(DistributedError, match="global batch"):
        main(["--n-train", "8", "--batch-size", "32"])
