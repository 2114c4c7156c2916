"""Plain, bounded, non-executable transport of a learner's outputs out of the sandbox (grader, lesson 00).

Inside the sandbox :func:`dump` writes what :func:`course_utils.checks._core.run_answer` recorded as an
``.npz`` file: one JSON document (the structure: numbers, strings, lists, tuples, dicts, tags) plus
numeric/boolean arrays, stored without pickle. Outside, :func:`load` reads it as untrusted data: no
links, no FIFOs or devices, a size cap, ``allow_pickle=False``, a schema check and caps on depth and
on the number of items. Anything that is not plain data (a model, an optimizer, a custom object) travels
as an :class:`Opaque` stand-in that names its type and never compares equal to anything.
"""
from __future__ import annotations

import io
import json
import math
import os
import stat
import zipfile

#: Largest result file read back from the sandbox (bytes).
MAX_BYTES = 16 * 2**20
MAX_DEPTH = 24
MAX_NODES = 200_000
MAX_TEXT = 20_000
#: Most bytes of arrays one result file may decode to (every reference to an array is a copy), and all the
#: result files of one submission together (:func:`load`'s ``budget``): beyond it the record is refused.
MAX_DECODED_BYTES = 4 * MAX_BYTES
#: Largest JSON structure document of a result file (bytes), checked before it is parsed.
MAX_META_BYTES = 8 * 2**20
MAX_SUBMISSION_DECODED_BYTES = 16 * MAX_BYTES


class Opaque:
    """Stands for a value that could not travel out of the sandbox as plain data."""

    type_name = "object"
    text = ""

    def __repr__(self) -> str:
        return self.text or f"<{self.type_name} object>"

    def __eq__(self, other) -> bool:
        return False

    __hash__ = object.__hash__


def _opaque(type_name: str, text: str) -> Opaque:
    name = "".join(ch for ch in str(type_name) if ch.isalnum() or ch == "_")[:60] or "object"
    cls = type(name, (Opaque,), {"type_name": name})
    obj = cls()
    obj.text = str(text)[:300]
    return obj


# ----------------------------------------------------------------------------- inside: encode
def encode(value, arrays: list, depth: int = 0, budget: list | None = None):
    """JSON-able structure for ``value``; numeric arrays are appended to ``arrays``."""
    import numpy as np

    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0 or depth > MAX_DEPTH:
        return {"__opaque__": "too_large", "repr": "a value too large or too deeply nested to grade"}
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":  # before float: np.float64 is a float
        arrays.append(np.asarray(value))
        return {"__npscalar__": len(arrays) - 1}
    if value is None or isinstance(value, (bool, str)):
        return value[:MAX_TEXT] if isinstance(value, str) else value
    if isinstance(value, int) and not isinstance(value, bool):
        return value if abs(value) < 2**63 else float(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, complex):
        return {"__complex__": [encode(value.real, arrays, depth + 1, budget),
                                encode(value.imag, arrays, depth + 1, budget)]}
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        arrays.append(np.ascontiguousarray(value).reshape(value.shape))  # ascontiguousarray makes 0-d 1-d
        return {"__nd__": len(arrays) - 1}
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        try:
            t = value.detach().cpu()
            if getattr(t, "is_floating_point", lambda: False)() and str(t.dtype) == "torch.bfloat16":
                t = t.float()
            arrays.append(t.numpy())
            return {"__torch__": len(arrays) - 1, "grad": bool(getattr(value, "requires_grad", False))}
        except Exception:  # noqa: BLE001
            pass
    if module.startswith(("tensorflow", "keras")) and hasattr(value, "numpy"):
        try:
            arrays.append(np.asarray(value.numpy()))
            return {"__nd__": len(arrays) - 1}
        except Exception:  # noqa: BLE001
            pass
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [encode(v, arrays, depth + 1, budget) for v in value]
        return items if isinstance(value, list) else {"__tuple__": items}
    if type(value) is dict:
        return {"__dict__": [[encode(k, arrays, depth + 1, budget), encode(v, arrays, depth + 1, budget)]
                             for k, v in value.items()]}
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = ""
    return {"__opaque__": type(value).__name__, "repr": text[:300]}


def dump(record: dict, path: str) -> None:
    """Write ``record`` (a dict of plain data) to ``path`` as an .npz file without pickle (inside)."""
    import numpy as np

    arrays: list = []
    meta = json.dumps(encode(record, arrays))
    entries = {"meta": np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)}
    entries.update({f"a{i}": a for i, a in enumerate(arrays)})
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        np.savez(fh, **entries)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- outside: decode
class WireError(ValueError):
    """A result file from the sandbox that the grader refuses (not plain data, too large, malformed)."""


def read_capped(path: str, max_bytes: int = MAX_BYTES, dir_fd: int | None = None) -> bytes:
    """The bytes of a regular file, never through a link, FIFO or device, at most ``max_bytes``; ``dir_fd``: a
    folder opened without following links, that ``path`` (a plain name then) is in."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags, dir_fd=dir_fd)
    except OSError as exc:
        raise WireError(f"cannot open {os.path.basename(path)} ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise WireError(f"{os.path.basename(path)} is not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise WireError(f"cannot read {os.path.basename(path)} ({exc.strerror})") from None
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise WireError(f"{os.path.basename(path)} is larger than {max_bytes} bytes")
    return data


def load(path: str, max_bytes: int = MAX_BYTES, budget: list | None = None, dir_fd: int | None = None) -> dict:
    """Read a file written by :func:`dump` as untrusted data; raise :class:`WireError` when it is not one.

    The decoded value may hold at most :data:`MAX_DECODED_BYTES` of arrays; ``budget`` (a one-item list,
    shared by the files of one submission) is what is left of the submission's total and goes down by what
    this file decodes to."""
    import numpy as np

    data = read_capped(path, max_bytes, dir_fd=dir_fd)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_NODES or sum(i.file_size for i in infos) > 4 * max_bytes:
                raise WireError("the result file unpacks to too much data")
            if any(i.filename in ("meta", "meta.npy") and i.file_size > MAX_META_BYTES + 1024 for i in infos):
                raise WireError("the result's structure is too large")
            names = {i.filename for i in infos}
        npz = np.load(io.BytesIO(data), allow_pickle=False)
        arrays = {}
        for name in names:
            key = name[:-4] if name.endswith(".npy") else name
            arr = npz[key]
            if arr.dtype.kind not in "biufc":
                raise WireError(f"array {key} has dtype {arr.dtype}")
            arrays[key] = arr
        text = bytes(arrays.pop("meta").astype(np.uint8))
        # before json.loads builds it: a small file of "[]," would otherwise become millions of objects here
        if len(text) > MAX_META_BYTES or sum(text.count(c) for c in b"[{,:") > 4 * MAX_NODES:
            raise WireError("the result's structure is too large")
        doc = json.loads(text.decode("utf-8"))
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - anything malformed
        raise WireError(f"not a result file ({type(exc).__name__}: {str(exc)[:200]})") from None
    allowed = MAX_DECODED_BYTES if budget is None else min(MAX_DECODED_BYTES, budget[0])
    counter = [MAX_NODES, allowed]
    value = _decode(doc, arrays, 0, counter)
    if budget is not None:
        budget[0] -= allowed - counter[1]
    if not isinstance(value, dict):
        raise WireError("the result file does not hold a record")
    return value


def _array(arrays: dict, ref, counter: list | None = None) -> object:
    if not isinstance(ref, int) or isinstance(ref, bool) or f"a{ref}" not in arrays:
        raise WireError(f"bad array reference {ref!r}")
    arr = arrays[f"a{ref}"]
    if counter is not None and len(counter) > 1:  # every reference is a copy: count it before making it
        counter[1] -= arr.nbytes
        if counter[1] < 0:
            raise WireError("the result decodes to too much data")
    return arr


def _decode(doc, arrays: dict, depth: int, counter: list):
    counter[0] -= 1
    if counter[0] < 0 or depth > MAX_DEPTH + 2:
        raise WireError("the result is too large or too deeply nested")
    if doc is None or isinstance(doc, (bool, int, float)):
        return doc
    if isinstance(doc, str):
        return doc[:MAX_TEXT]
    if isinstance(doc, list):
        return [_decode(v, arrays, depth + 1, counter) for v in doc]
    if not isinstance(doc, dict) or len(doc) > 2:
        raise WireError("unexpected item in the result")
    if "__nd__" in doc:
        return _array(arrays, doc["__nd__"], counter).copy()
    if "__npscalar__" in doc:
        arr = _array(arrays, doc["__npscalar__"], counter)
        if arr.ndim != 0:
            raise WireError("a scalar that is not 0-d")
        return arr[()]
    if "__torch__" in doc:
        arr = _array(arrays, doc["__torch__"], counter).copy()
        try:
            import torch

            t = torch.from_numpy(arr)
            if doc.get("grad") is True and t.is_floating_point():
                t.requires_grad_(True)
            return t
        except Exception:  # noqa: BLE001 - no torch in the grader: the array itself
            return arr
    if "__float__" in doc:
        text = doc["__float__"]
        if text not in ("nan", "inf", "-inf"):
            raise WireError("bad float")
        return float(text)
    if "__complex__" in doc:
        parts = doc["__complex__"]
        if not (isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, (int, float)) for p in parts)):
            raise WireError("bad complex")
        return complex(parts[0], parts[1])
    if "__tuple__" in doc:
        items = doc["__tuple__"]
        if not isinstance(items, list):
            raise WireError("bad tuple")
        return tuple(_decode(v, arrays, depth + 1, counter) for v in items)
    if "__dict__" in doc:
        pairs = doc["__dict__"]
        if not isinstance(pairs, list):
            raise WireError("bad dict")
        out = {}
        for pair in pairs:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise WireError("bad dict item")
            key = _decode(pair[0], arrays, depth + 1, counter)
            try:
                hash(key)
            except TypeError:
                raise WireError("unhashable dict key") from None
            out[key] = _decode(pair[1], arrays, depth + 1, counter)
        return out
    if "__opaque__" in doc:
        return _opaque(str(doc["__opaque__"]), str(doc.get("repr", "")))
    raise WireError("unknown tag in the result")


# ----------------------------------------------------------------------------- records of a check call
RUN_STATUSES = ("ok", "raised", "timeout", "not_implemented")


def _case_record(run) -> dict:
    conv = getattr(run, "converted", None)
    return {"status": str(run.status), "got": run.got, "ename": str(run.ename), "message": str(run.message),
            "frame": str(run.frame), "args_after": tuple(run.args_after), "kwargs_after": dict(run.kwargs_after),
            "converted": None if conv is None else _case_record(conv)}


def answer_record(run) -> dict:
    """Plain-data form of an :class:`~course_utils.checks._core.AnswerRun` (inside; no deep copies)."""
    return {"name": str(run.name), "params": [str(p) for p in run.params], "is_callable": bool(run.is_callable),
            "type_name": str(run.type_name), "loops": str(run.loops or ""),
            "runs": [_case_record(r) for r in run.runs]}


def _text(doc: dict, key: str, limit: int = 2000) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise WireError(f"{key} is not text")
    return value[:limit]


def _case_from(doc, nested: bool = False):
    from ..checks._core import CaseRun

    if not isinstance(doc, dict) or doc.get("status") not in RUN_STATUSES:
        raise WireError("a case record without a known status")
    args, kwargs = doc.get("args_after", ()), doc.get("kwargs_after", {})
    if isinstance(args, list):
        args = tuple(args)
    if not isinstance(args, tuple) or not isinstance(kwargs, dict):
        raise WireError("bad arguments in a case record")
    conv = doc.get("converted")
    if conv is not None and nested:
        raise WireError("nested converted record")
    return CaseRun(status=doc["status"], got=doc.get("got"), ename=_text(doc, "ename", 200),
                   message=_text(doc, "message", 3000), frame=_text(doc, "frame", 500), args_after=args,
                   kwargs_after=kwargs, converted=None if conv is None else _case_from(conv, nested=True))


def answer_from_record(doc) -> object:
    """The :class:`~course_utils.checks._core.AnswerRun` in a record read by :func:`load` (outside)."""
    from ..checks._core import AnswerRun

    if not isinstance(doc, dict):
        raise WireError("the record is not a mapping")
    params = doc.get("params", [])
    runs = doc.get("runs", [])
    if not (isinstance(params, list) and all(isinstance(p, str) for p in params) and isinstance(runs, list)
            and isinstance(doc.get("is_callable", True), bool) and len(runs) <= 10_000):
        raise WireError("malformed record")
    return AnswerRun(name=_text(doc, "name", 80) or "your function", params=[p[:80] for p in params[:50]],
                     is_callable=doc.get("is_callable", True), type_name=_text(doc, "type_name", 80),
                     loops=_text(doc, "loops", 1000), runs=[_case_from(r) for r in runs])
