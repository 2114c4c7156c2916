"""Data-parallel training with ``DistributedDataParallel`` on CPU (lesson 11).

Run it as one process::

    python -m course_utils.distributed --data synthetic --epochs 3 --out result.json

or as ``N`` processes (gloo backend, one CPU thread each)::

    torchrun --standalone --nproc_per_node=2 -m course_utils.distributed --out result.json

or from Python with :func:`launch`, which starts ``torchrun`` as a subprocess
and returns the result dict. Every process builds the same model from the same
seed (DDP also broadcasts rank 0's weights), a :class:`DistributedSampler`
gives each rank a disjoint shard of the training set, and ``--batch-size`` is
the *local* batch: the global batch is ``world_size * batch_size``.

Before training, one step checks the key property of data parallelism: the
gradients DDP averages across ranks equal the gradients a single process gets
on the union of the ranks' batches (max absolute difference, checked against
``--tol``). Rank 0 writes the JSON result described in :func:`main`.

Bad arguments raise :class:`DistributedError`. ``torch`` is imported inside
the functions, so ``import course_utils`` stays light.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .config import CourseError

__all__ = ["DistributedError", "parse_args", "main", "launch", "synthetic_data"]


class DistributedError(CourseError, ValueError):
    """Bad arguments for data-parallel training, or a launch that failed or timed out (lesson 11)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse would sys.exit(2)
        raise DistributedError(f"bad arguments for course_utils.distributed: {message}",
                               expected="the options listed by `python -m course_utils.distributed --help`",
                               found=message, fix="correct the option named above")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m course_utils.distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default="synthetic", help="'synthetic' (fast) or 'bundled' (course features)")
    p.add_argument("--modalities", default="text,audio", help="bundled data: comma-separated modalities")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32, help="local (per-process) batch size")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-train", type=int, default=1024, help="synthetic data: training rows")
    p.add_argument("--n-test", type=int, default=256, help="synthetic data: test rows")
    p.add_argument("--tol", type=float, default=1e-6, help="max |grad difference| allowed")
    p.add_argument("--out", default=None, help="JSON result path (written by rank 0)")
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and validate the command line (lesson 11).

    Raises :class:`DistributedError` for unknown options, non-numbers,
    ``--data`` other than ``synthetic``/``bundled``, or non-positive
    ``--epochs``, ``--batch-size``, ``--lr``, ``--hidden``, ``--n-train``,
    ``--n-test``, ``--tol``.
    """
    if argv is not None and (isinstance(argv, str) or not all(isinstance(a, str) for a in argv)):
        raise DistributedError("argv must be a list of strings", expected="e.g. ['--epochs', '2']",
                               found=repr(argv), fix="pass each option and value as its own string")
    a = _parser().parse_args(None if argv is None else list(argv))
    if a.data not in ("synthetic", "bundled"):
        raise DistributedError(f"--data {a.data!r}", expected="'synthetic' or 'bundled'", found=repr(a.data),
                               fix="--data synthetic (fast, no files) or --data bundled (course features)")
    for name in ("epochs", "batch_size", "lr", "hidden", "n_train", "n_test", "tol"):
        v = getattr(a, name)
        if not v > 0:
            opt = "--" + name.replace("_", "-")
            raise DistributedError(f"{opt} must be positive", expected=f"{opt} > 0", found=repr(v),
                                   fix=f"e.g. {opt} {_parser().get_default(name)}")
    return a


def synthetic_data(n_train: int = 1024, n_test: int = 256, seed: int = 0) -> tuple[dict, dict, dict[str, int]]:
    """A small two-modality binary task (lesson 11).

    Returns ``(train, test, dims)``; ``train``/``test`` are ``{"x": {"text": (N, 16),
    "audio": (N, 8)} float32, "y": (N,) int64 in {0, 1}}``, ``dims = {"text": 16,
    "audio": 8}``. The label is the sign of a fixed linear score of both
    modalities plus noise, so a small MLP reaches well above chance.
    """
    rng = np.random.default_rng(seed)
    dims = {"text": 16, "audio": 8}
    w = {m: rng.normal(size=d) for m, d in dims.items()}

    def make(n):
        x = {m: rng.normal(size=(n, d)).astype(np.float32) for m, d in dims.items()}
        s = sum(x[m] @ w[m] for m in dims) + 0.5 * rng.normal(size=n)
        return {"x": x, "y": (s > 0).astype(np.int64)}

    return make(n_train), make(n_test), dims


def _load(a: argparse.Namespace) -> tuple[dict, dict, dict[str, int], int]:
    if a.data == "synthetic":
        tr, te, dims = synthetic_data(a.n_train, a.n_test, a.seed)
        return tr, te, dims, 2
    from .fusion.benchmark import prepare

    p = prepare(modalities=[m.strip() for m in a.modalities.split(",") if m.strip()])
    return ({"x": p.x["train"], "y": p.y["train"]}, {"x": p.x["test"], "y": p.y["test"]}, p.dims, p.n_classes)


def _init_process_group(tmpdir: str):
    """Join torchrun's group, or make a world of one (file store) without torchrun."""
    import torch.distributed as dist

    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        dist.init_process_group("gloo")
    else:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmpdir, 'store')}", rank=0, world_size=1)
    return dist.get_rank(), dist.get_world_size()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Train with DDP in this process (one rank of a torchrun job, or a world of one) (lesson 11).

    Returns (on every rank) and writes to ``--out`` (rank 0 only) a dict with
    ``world_size``, ``backend`` ("gloo"), ``data``, ``local_batch`` and
    ``global_batch`` (rows per step), ``steps_per_epoch``, ``epochs``,
    ``wall_time_s`` (seconds from the first to the last epoch, rank 0),
    ``epoch_loss`` (mean training loss per epoch, averaged over ranks),
    ``grad_max_diff`` (max |DDP gradient - single-process union-batch
    gradient| over all parameters and ranks), ``grad_tol``, ``grad_ok`` and
    ``test_accuracy`` (fraction in [0, 1], rank 0's model on the test split).

    Raises :class:`DistributedError` on bad arguments (before any process
    group is created) or when the gradient check exceeds ``--tol``. The
    process group is destroyed on every exit path.
    """
    a = parse_args(argv)
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DistributedSampler

    from .models.torch import EarlyFusion

    torch.set_num_threads(1)  # N processes on N cores: one thread each
    with tempfile.TemporaryDirectory(prefix="course_ddp_") as tmp:
        rank, world = _init_process_group(tmp)
        try:
            train, test, dims, n_classes = _load(a)
            n = len(train["y"])
            if n < world * a.batch_size:
                raise DistributedError(f"{n} training rows are fewer than one global batch",
                                       expected=f">= world_size * batch_size = {world * a.batch_size}",
                                       found=str(n), fix="lower --batch-size or add rows (--n-train)")
            xt = {m: torch.from_numpy(np.ascontiguousarray(v)) for m, v in train["x"].items()}
            yt = torch.from_numpy(train["y"])
            binary = n_classes == 2
            loss_fn = (torch.nn.BCEWithLogitsLoss() if binary else torch.nn.CrossEntropyLoss())

            def loss_of(model, idx):
                out = model({m: v[idx] for m, v in xt.items()})
                y = yt[idx]
                return loss_fn(out.squeeze(-1), y.float()) if binary else loss_fn(out, y)

            torch.manual_seed(a.seed)
            # dropout=0: every rank must compute exactly what one process would (the gradient check)
            net = EarlyFusion(dims, n_outputs=1 if binary else n_classes, hidden=a.hidden, dropout=0.0)
            ref = EarlyFusion(dims, n_outputs=1 if binary else n_classes, hidden=a.hidden, dropout=0.0)
            ref.load_state_dict(net.state_dict())
            model = DDP(net)  # broadcasts rank 0's weights to every rank

            def sampler(r):
                return DistributedSampler(range(n), num_replicas=world, rank=r, shuffle=True, seed=a.seed,
                                          drop_last=True)

            # 1. gradient check: DDP's averaged gradient vs one process on the union batch
            local = list(sampler(rank))[:a.batch_size]
            union = [i for r in range(world) for i in list(sampler(r))[:a.batch_size]]
            model.zero_grad()
            loss_of(model, torch.tensor(local)).backward()
            ref.zero_grad()
            loss_of(ref, torch.tensor(union)).backward()
            diff = max(float((p.grad - q.grad).abs().max()) for p, q in zip(model.module.parameters(),
                                                                            ref.parameters()))
            d = torch.tensor([diff], dtype=torch.float64)
            dist.all_reduce(d, op=dist.ReduceOp.MAX)
            grad_max_diff = float(d.item())
            if not grad_max_diff <= a.tol:
                raise DistributedError("DDP gradients differ from the single-process union-batch gradients",
                                       expected=f"max |difference| <= {a.tol:g}", found=f"{grad_max_diff:.3g}",
                                       fix="same seed and weights on every rank, no dropout, equal local batches")
            model.zero_grad()

            # 2. training
            samp = sampler(rank)
            opt = torch.optim.Adam(model.parameters(), lr=a.lr)
            steps = len(samp) // a.batch_size
            epoch_loss = []
            dist.barrier()
            t0 = time.perf_counter()
            for epoch in range(a.epochs):
                samp.set_epoch(epoch)
                order = torch.tensor(list(samp))
                total = torch.zeros(1, dtype=torch.float64)
                for s in range(steps):
                    opt.zero_grad()
                    loss = loss_of(model, order[s * a.batch_size:(s + 1) * a.batch_size])
                    loss.backward()
                    opt.step()
                    total += loss.item()
                dist.all_reduce(total)
                epoch_loss.append(float(total.item()) / (steps * world))
            dist.barrier()
            wall = time.perf_counter() - t0

            # 3. evaluation (weights are identical on every rank)
            with torch.no_grad():
                out = model.module({m: torch.from_numpy(np.ascontiguousarray(v)) for m, v in test["x"].items()})
                pred = (out.squeeze(-1) > 0).long() if binary else out.argmax(-1)
                acc = float((pred.numpy() == test["y"]).mean())
            result = {"world_size": world, "backend": dist.get_backend(), "data": a.data,
                      "local_batch": a.batch_size, "global_batch": world * a.batch_size, "steps_per_epoch": steps,
                      "epochs": a.epochs, "wall_time_s": wall, "epoch_loss": epoch_loss,
                      "grad_max_diff": grad_max_diff, "grad_tol": a.tol, "grad_ok": grad_max_diff <= a.tol,
                      "test_accuracy": acc}
            if rank == 0 and a.out:
                Path(a.out).parent.mkdir(parents=True, exist_ok=True)
                Path(a.out).write_text(json.dumps(result, indent=2))
            return result
        finally:
            dist.destroy_process_group()


def launch(nproc: int = 2, args: Sequence[str] = (), timeout: float = 300.0) -> dict[str, Any]:
    """Run ``torchrun --standalone --nproc_per_node=nproc -m course_utils.distributed *args`` (lesson 11).

    ``nproc``: processes (ranks) on this machine; ``args``: command-line
    options for :func:`main` (an ``--out`` in them is used, else a temporary
    file); ``timeout``: seconds for the whole job. Each process runs with one
    thread (``OMP_NUM_THREADS=1``). Returns the parsed JSON result of rank 0.

    The job runs in its own process group; on timeout the whole group
    (torchrun and every worker) is killed and :class:`DistributedError` is
    raised. A non-zero exit raises :class:`DistributedError` with the end of
    the job's output. Bad ``nproc``/``args``/``timeout`` raise
    :class:`DistributedError` before anything starts.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise DistributedError(f"nproc={nproc!r}", expected="a positive int", found=repr(nproc),
                               fix="e.g. launch(nproc=2)")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not timeout > 0:
        raise DistributedError(f"timeout={timeout!r}", expected="seconds > 0", found=repr(timeout),
                               fix="e.g. timeout=300")
    args = list(args) if not isinstance(args, str) else None
    if args is None or not all(isinstance(x, str) for x in args):
        raise DistributedError("args must be a list of strings", expected="e.g. ['--epochs', '2']",
                               found=repr(args), fix="pass each option and value as its own string")
    parse_args(args)  # fail fast here, not inside N workers
    with tempfile.TemporaryDirectory(prefix="course_ddp_launch_") as tmp:
        out = None
        if "--out" in args and args.index("--out") + 1 < len(args):
            out = args[args.index("--out") + 1]
        else:
            out = os.path.join(tmp, "result.json")
            args = args + ["--out", out]
        # TMPDIR=tmp: torchrun writes its logs into a tempfile.mkdtemp("torchelastic_...") folder that it never
        # removes; inside tmp, it goes when the job ends
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", TMPDIR=tmp)
        root = str(Path(__file__).resolve().parent.parent)  # this checkout's course_utils, not another install
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "course_utils.distributed", *args]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                start_new_session=True)
        try:
            log, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            log, _ = proc.communicate()
            raise DistributedError(f"torchrun did not finish in {timeout:g} s; killed its process group",
                                   expected="the job to finish", found=(log or "")[-2000:],
                                   fix="raise timeout, or lower --epochs / --n-train") from None
        finally:
            _kill_group(proc.pid)  # sweep any worker left behind
        if proc.returncode != 0:
            raise DistributedError(f"torchrun exited with status {proc.returncode}", expected="status 0",
                                   found=(log or "")[-3000:], fix="read the workers' error above")
        try:
            return json.loads(Path(out).read_text())
        except (OSError, ValueError) as e:
            raise DistributedError("torchrun finished but wrote no result", expected=f"JSON at {out}",
                                   found=str(e), fix="check --out is writable") from None


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


if __name__ == "__main__":
    try:
        r = main()
    except DistributedError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps(r))
