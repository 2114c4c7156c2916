"""Find submissions and rebuild each one on the official solution notebook (grader, lesson 00).

The official ``solutions/NN_slug.ipynb`` is the template (as in nbgrader's
autograde): a learner cell that matches an official *exercise* cell keeps the
learner's source; a cell that matches any other official cell is replaced by
the official source (so altered or deleted check cells, and the hidden tests,
come back); cells the learner added stay where they are; official cells the
learner deleted are put back after the cell that preceded them. A deleted
exercise cell makes that exercise ``missing``.

Cells are matched by ``metadata["course"]["id"]`` (written by the authoring
build), then by the cell's own ``id``, then - for notebooks whose ids were
lost, e.g. by an editor that rewrites them - by an exercise's header line
``### EXERCISE NN.name`` or by a source identical to the student version.
"""
from __future__ import annotations

import ast
import copy
import os
import re
import secrets
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..authoring import CHECK_RE, EXERCISE_RE, Exercise, exercises, lessons, stamp_solution, strip_cell

GRADER_CHECK = "_course_grader_check"
#: Start of the message of a check that failed in the instructor's hidden-test block.
INSTRUCTOR_TAG = "[instructor test] "
HIDDEN_KEYWORD = "_course_hidden"
CALL_KEYWORD = "_course_call"


class GradingSetupError(RuntimeError):
    """The grader cannot start: no such lesson, unreadable solution, bad folder."""


@dataclass
class Official:
    """The official solution notebook of the graded lesson."""

    name: str  # e.g. "00_setup.ipynb"
    lesson: str  # "00"
    nb: nbformat.NotebookNode
    exercises: list[Exercise]

    def cell(self, cell_id: str):
        for c in self.nb.cells:
            if c.get("id") == cell_id:
                return c
        return None

    @property
    def check_cell_ids(self) -> dict[str, list[str]]:
        """check cell id -> exercise ids it checks."""
        out: dict[str, list[str]] = {}
        for ex in self.exercises:
            for cid in ex.check_cell_ids:
                out.setdefault(cid, []).append(ex.id)
        return out


@dataclass
class Submission:
    student: str
    path: Path | None  # None: no notebook for this lesson was found (or it was refused)
    note: str = ""
    refused: str = ""  # why the notebook found was not read (a link, a FIFO): invalid_notebook
    chosen_note: bool = False  # the note says which of several notebooks was graded (also in the CSV)


@dataclass
class PlannedCell:
    """One code cell of the rebuilt notebook, as it will run."""

    source: str
    role: str  # setup | exercise | check | official | student
    exercise: str | None = None  # for role exercise: its id
    official_id: str | None = None
    checks: list[str] = field(default_factory=list)  # for role check: exercise ids
    calls: list[int] = field(default_factory=list)  # for role check: ids of its split check calls, in order


@dataclass
class SplitCall:
    """A ``check("NN.x", answer, seed=S)`` call judged outside the sandbox (see :mod:`._wire`)."""

    exercise: str
    seed: int  # the call's own seed plus the grader's offset
    hidden: bool  # in the instructor's hidden-test block


@dataclass
class Plan:
    cells: list[PlannedCell]
    missing: set[str]
    answers: dict[str, str]  # exercise id -> the learner's source of the exercise cell
    notes: list[str] = field(default_factory=list)
    notebook: nbformat.NotebookNode | None = None  # the rebuilt notebook (all cell types)
    nonce: str = ""  # printed by the grader's check on success: proof that the check really ran
    split: dict[int, SplitCall] = field(default_factory=dict)  # call id -> the call, judged outside


# ----------------------------------------------------------------------------- official notebook
def load_official(root: Path, lesson: str) -> Official:
    """The stamped solution notebook ``solutions/NN_*.ipynb`` and its exercises (lesson 00)."""
    lesson = f"{int(lesson):02d}" if str(lesson).isdigit() else str(lesson)
    found = [p for p in lessons(root) if p.name.startswith(lesson + "_")]
    if len(found) != 1:
        have = ", ".join(p.name for p in lessons(root)) or "none"
        raise GradingSetupError(f"no single solution notebook solutions/{lesson}_*.ipynb under {root} "
                                f"(found {len(found)}; lessons: {have})")
    path = found[0]
    try:
        nb = stamp_solution(nbformat.read(path, as_version=4), path.name)
        exs = exercises(nb, path.name)
    except Exception as exc:
        raise GradingSetupError(f"cannot use {path}: {type(exc).__name__}: {exc}") from exc
    if not exs:
        raise GradingSetupError(f"{path.name} declares no exercises: nothing to grade.")
    return Official(path.name, lesson, nb, exs)


# ----------------------------------------------------------------------------- submissions
#: Submissions larger than this are not read (``invalid_notebook``).
MAX_NOTEBOOK_BYTES = 50 * 2**20
#: Notebooks with more cells than this are not parsed (``invalid_notebook``); lessons have about 100.
MAX_CELLS = 3000
#: Folders searched below a student's folder, and entries looked at in all, at most.
MAX_DEPTH = 6
MAX_ENTRIES = 20_000
#: Folders never taken for a student (tool and archive leftovers); they are listed in the log.
IGNORED_FOLDERS = (".ipynb_checkpoints", "__MACOSX", ".git", "__pycache__")


def _walk(folder: Path, depth: int = 0, budget: list | None = None):
    """(path, kind) below ``folder`` without following links: kind is file, link or special."""
    budget = budget if budget is not None else [MAX_ENTRIES]
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        budget[0] -= 1
        if budget[0] < 0:
            return
        if entry.is_symlink():
            yield Path(entry.path), "link"
        elif entry.is_dir(follow_symlinks=False):
            if entry.name not in IGNORED_FOLDERS and depth < MAX_DEPTH:
                yield from _walk(Path(entry.path), depth + 1, budget)
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path), "file"
        else:
            yield Path(entry.path), "special"


def normalized_name(name: str) -> str:
    """A notebook's file name as the grader compares it: Unicode NFKC, case-folded, without ``.ipynb``,
    spaces and hyphens as ``_``, without the marks of copies ("Copy of ", "-Copy1", " (1)")."""
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    if text.endswith(".ipynb"):
        text = text[:-6]
    text = re.sub(r"^copy\s+of\s+", "", text)
    text = re.sub(r"[\s\-]+", "_", text)
    text = re.sub(r"_?\(\d+\)$", "", text)
    text = re.sub(r"_copy\d*$", "", text)
    return text.strip("_")


def lesson_rank(name: str, official: "Official") -> int | None:
    """How well a file name fits the lesson (0 best), or None when it is not a candidate notebook."""
    if not unicodedata.normalize("NFKC", name).casefold().endswith(".ipynb") or name.endswith("-checkpoint.ipynb"):
        return None
    if name == official.name:
        return 0
    norm, stem = normalized_name(name), normalized_name(official.name)
    if norm == stem:
        return 1
    if stem in norm:
        return 2
    if re.search(rf"(^|_){official.lesson}_", norm):
        return 3
    return None


RANK_WHY = {0: "the official file name", 1: "the official name once copy marks, case and spaces are ignored",
            2: "a name that contains the official one", 3: "a name with the lesson number"}


def _choose(found: list[tuple[Path, int]], base: Path) -> tuple[Path, str]:
    """The notebook to grade among several candidates, and the rule that picked it (documented)."""
    best = min(rank for _, rank in found)
    tied = [p for p, rank in found if rank == best]

    def mtime(p: Path) -> float:
        try:
            return os.lstat(p).st_mtime
        except OSError:
            return 0.0

    chosen = max(tied, key=lambda p: (mtime(p), p.name)) if len(tied) > 1 else tied[0]
    why = RANK_WHY[best] + (", the newest of those" if len(tied) > 1 else "")
    names = ", ".join(p.relative_to(base).as_posix() for p, _ in found)
    return chosen, (f"several notebooks for lesson {{lesson}} ({names}); graded "
                    f"{chosen.relative_to(base).as_posix()} ({why})")


def discover(folder: Path, official: Official, log=None) -> list[Submission]:
    """One :class:`Submission` per student folder (``DIR/<student>/...``, searched recursively, links never
    followed) and per notebook directly in ``DIR`` (``DIR/<student>.ipynb``) (lesson 00).

    Candidate notebooks are those whose names fit the lesson (:func:`lesson_rank`: the official name, the
    same with copy marks such as ``Copy of``/``-Copy1``/``(1)``, other case or spaces, a name containing it
    such as ``alice_00_setup.ipynb``, or any name with the lesson number); among several, the best fit,
    then the newest. Links, FIFOs and devices are refused with a note; names starting with ``.`` or ``_``
    are graded like any other.
    """
    log = log or (lambda text: None)
    try:
        is_dir = folder.is_dir() and not folder.is_symlink()
    except OSError:
        is_dir = False
    if not is_dir:
        raise GradingSetupError(f"submissions folder {folder} does not exist (or is a link)")
    subs: list[Submission] = []
    names: set[str] = set()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        path = Path(entry.path)
        if entry.is_symlink():
            student = entry.name[:-6] if entry.name.lower().endswith(".ipynb") else entry.name
            sub = Submission(student, None, f"{entry.name} is a link: the grader never follows links",
                             refused=f"{entry.name} is a symbolic link; the grader does not follow links")
        elif entry.is_dir(follow_symlinks=False):
            if entry.name in IGNORED_FOLDERS:
                log(f"skipped {entry.name}/ (a tool's folder, not a student)")
                continue
            items = list(_walk(path))
            found = [(p, r) for p, kind in items if kind == "file" and (r := lesson_rank(p.name, official)) is not None]
            refused = [p for p, kind in items if kind != "file" and lesson_rank(p.name, official) is not None]
            if entry.name.startswith((".", "_")) and not found and not refused:
                log(f"skipped {entry.name}/: no notebook for lesson {official.lesson} in it")
                continue
            student = entry.name
            if not found:
                others = sorted(p.relative_to(path).as_posix() for p, kind in items
                                if p.name.lower().endswith(".ipynb"))[:5]
                if refused:
                    what = ", ".join(p.relative_to(path).as_posix() for p in refused[:3])
                    sub = Submission(student, None, f"refused {what}: links, FIFOs and devices are not read",
                                     refused=f"{what} is a link or a special file, not a regular file; the "
                                             "grader does not follow links")
                else:
                    note = (f"no notebook for lesson {official.lesson} in {entry.name}/"
                            + (f" (found: {', '.join(others)})" if others else ""))
                    sub = Submission(student, None, note)
            elif len(found) == 1:
                sub = Submission(student, found[0][0])
            else:
                chosen, note = _choose(found, path)
                sub = Submission(student, chosen, note.replace("{lesson}", official.lesson), chosen_note=True)
        elif entry.is_file(follow_symlinks=False):
            if not entry.name.lower().endswith(".ipynb"):
                continue
            sub = Submission(entry.name[: -len(".ipynb")], path)
        else:
            if entry.name.lower().endswith(".ipynb"):
                sub = Submission(entry.name[:-6], None, f"{entry.name} is not a regular file",
                                 refused=f"{entry.name} is not a regular file (a FIFO, socket or device)")
            else:
                continue
        sub.student = unicodedata.normalize("NFC", sub.student)
        while sub.student in names:
            sub.student += "_"
        names.add(sub.student)
        subs.append(sub)
    return subs


def read_bytes(path: Path, max_bytes: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of a submitted file: a regular file, opened without following links, at most
    ``max_bytes``; raise ValueError with a readable reason otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == getattr(__import__("errno"), "ELOOP", -1):
            raise ValueError("the file is a symbolic link; the grader does not follow links") from None
        raise ValueError(f"the file cannot be opened ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file (a FIFO, socket, device or folder)")
        if info.st_size > max_bytes:
            raise ValueError(f"the file is {info.st_size / 2**20:.0f} MB, larger than the {max_bytes // 2**20} MB "
                             "the grader reads")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(max_bytes + 1)
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise ValueError(f"the file is larger than the {max_bytes // 2**20} MB the grader reads")
    return data


def read_submission(path: Path, data: bytes | None = None) -> nbformat.NotebookNode:
    """Read a submitted notebook (or parse ``data``, its bytes); raise ValueError with a readable reason
    when it is not one."""
    if data is None:
        data = read_bytes(path)
    if not data.strip():
        raise ValueError("the file is empty (0 bytes)" if not data else "the file is empty (only white space)")
    if data.count(b'"cell_type"') > MAX_CELLS:
        raise ValueError(f"the notebook has more than {MAX_CELLS} cells; the grader reads at most {MAX_CELLS}")
    text = data.decode("utf-8", errors="replace")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {first[:300]})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ValueError("not a notebook: it has no list of cells")
    if len(cells) > MAX_CELLS:
        raise ValueError(f"the notebook has {len(cells)} cells; the grader reads at most {MAX_CELLS}")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str):
            raise ValueError(f"not a notebook: cell {i} has no cell_type")
        src = cell.get("source", "")
        if isinstance(src, list):
            src = "".join(str(s) for s in src)
        if not isinstance(src, str):
            raise ValueError(f"not a notebook: cell {i} has a source that is not text")
        cell["source"] = src
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
    if not isinstance(nb.get("metadata"), dict):
        nb["metadata"] = nbformat.NotebookNode()
    return nb


def wrong_lesson(nb, official: Official) -> str | None:
    """Why this notebook belongs to another lesson, or None."""
    course = nb.metadata.get("course") if isinstance(nb.metadata.get("course"), dict) else {}
    source = str(course.get("source") or "")
    if source and Path(source).name != official.name:
        return f"this notebook was built from {source}, not solutions/{official.name}"
    ids = [m.group(1) for c in nb.cells if (m := EXERCISE_RE.match((c.get("source") or "").split("\n", 1)[0]))]
    if ids and not any(i.startswith(official.lesson + ".") for i in ids):
        return (f"its exercises ({', '.join(sorted(set(ids))[:4])}) belong to another lesson, "
                f"not lesson {official.lesson}")
    return None


# ----------------------------------------------------------------------------- rebuilding
def _student_keys(cell) -> tuple[str | None, str | None]:
    """(metadata.course.id, cell id) of a learner cell."""
    course = cell.get("metadata", {}).get("course")
    by_meta = course.get("id") if isinstance(course, dict) and isinstance(course.get("id"), str) else None
    own = cell.get("id") if isinstance(cell.get("id"), str) else None
    return by_meta or None, own or None


def _norm(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def _unlinked(text: str) -> str:
    """A cell's text compared for "was it edited": the student version links notebooks/ where the solution
    links solutions/ (the Colab badge), which is no edit by the learner."""
    return _norm(text.replace("/solutions/", "/notebooks/"))


def student_source(official_cell) -> str:
    """What the student version of an official cell contains."""
    if official_cell.cell_type in ("code", "markdown"):
        return strip_cell(official_cell.source, official_cell.cell_type)
    return official_cell.source


def match_cells(nb, official: Official) -> tuple[list[str | None], int]:
    """For each learner cell, the official cell id it stands for (or None); and how many matched
    only by the fallbacks (header line / identical source)."""
    known = {c.get("id", "") for c in official.nb.cells}
    exercise_by_id = {ex.id: ex for ex in official.exercises}
    match: list[str | None] = [None] * len(nb.cells)
    used: set[str] = set()
    for pass_no in (0, 1):  # metadata.course.id first, then the cell id
        for i, cell in enumerate(nb.cells):
            key = _student_keys(cell)[pass_no]
            if match[i] is None and key and key in known and key not in used:
                match[i] = key
                used.add(key)
    fallback = 0
    for i, cell in enumerate(nb.cells):  # exercise header line
        if match[i] is not None:
            continue
        m = EXERCISE_RE.match((cell.get("source") or "").split("\n", 1)[0])
        if m and m.group(1) in exercise_by_id:
            cid = exercise_by_id[m.group(1)].cell_id
            if cid not in used:
                match[i] = cid
                used.add(cid)
                fallback += 1
    wanted = {}
    for oc in official.nb.cells:
        cid = oc.get("id", "")
        if cid not in used and cid not in {ex.cell_id for ex in official.exercises}:
            text = _norm(student_source(oc))
            if text:
                wanted.setdefault((oc.cell_type, text), cid)
    for i, cell in enumerate(nb.cells):  # identical source
        if match[i] is not None:
            continue
        cid = wanted.get((cell.get("cell_type"), _norm(cell.get("source") or "")))
        if cid and cid not in used:
            match[i] = cid
            used.add(cid)
            fallback += 1
    return match, fallback


def assemble(nb, official: Official, *, seed: int = 1, run_all: bool = False, nonce: str | None = None,
             splittable=None) -> Plan:
    """Rebuild a submission on the official template; return the cells to run (lesson 00).

    ``splittable(exercise) -> bool``: whether that exercise's check calls are split (the learner's
    function runs in the kernel on the cases' inputs, the verdict is decided by the grader: ``plan.split``);
    None = none is (every check runs in the kernel, as in a learner's own notebook).
    """
    nonce = nonce or secrets.token_hex(8)
    split: dict[int, SplitCall] = {}

    def allocate(exercise: str, call_seed: int | None, hidden: bool) -> int | None:
        if splittable is None or call_seed is None or not splittable(exercise):
            return None
        split[len(split)] = SplitCall(exercise, call_seed + int(seed), hidden)
        return len(split) - 1

    exercise_cells = {ex.cell_id: ex for ex in official.exercises}
    checks_of = official.check_cell_ids
    match, fallback = match_cells(nb, official)
    entries: list[tuple[str | None, object]] = []  # (official id or None, cell)
    notes: list[str] = []
    restored = 0
    answers: dict[str, str] = {}
    for cell, oid in zip(nb.cells, match):
        if oid is None:
            entries.append((None, copy.deepcopy(cell)))
        elif oid in exercise_cells:
            answers[exercise_cells[oid].id] = cell.get("source") or ""
            entries.append((oid, copy.deepcopy(cell)))
        else:
            oc = official.cell(oid)
            mine = _unlinked(cell.get("source") or "")  # the student version's links say notebooks/
            if mine not in (_unlinked(student_source(oc)), _unlinked(oc.source)) or cell.get("cell_type") != oc.cell_type:
                restored += 1
            entries.append((oid, copy.deepcopy(oc)))
    present = {oid for oid, _ in entries if oid}
    reinserted = 0
    previous: str | None = None
    for oc in official.nb.cells:
        cid = oc.get("id", "")
        if cid not in present and cid not in exercise_cells:
            pos = 0
            if previous is not None:
                pos = next(i for i, (oid, _) in enumerate(entries) if oid == previous) + 1
            entries.insert(pos, (cid, copy.deepcopy(oc)))
            present.add(cid)
            reinserted += 1
        if cid in present:
            previous = cid
    missing = {ex.id for ex in official.exercises if ex.cell_id not in present}
    for ex in official.exercises:  # a written answer typed into a new cell below the answer cell
        if ex.kind != "markdown" or ex.id not in answers:
            continue
        stub = _norm(strip_cell(official.nb.cells[ex.cell_index].source, "markdown"))
        if _norm(answers[ex.id]) != stub:
            continue
        at = next(i for i, (oid, _) in enumerate(entries) if oid == ex.cell_id)
        added = []
        for oid, cell in entries[at + 1:]:
            if oid is not None or cell.get("cell_type") != "markdown":
                break
            if (cell.get("source") or "").strip():
                added.append(cell.get("source") or "")
        if added:
            answers[ex.id] = answers[ex.id].rstrip() + "\n\n" + "\n\n".join(added)
            notes.append(f"the written answer to {ex.id} was found in {len(added)} new cell(s) below its answer "
                         "cell; it is graded as the answer")
    if fallback:
        notes.append(f"{fallback} cell(s) matched by their content because their cell ids were lost")
    if restored:
        notes.append(f"{restored} official cell(s) that were edited were restored (check cells, text)")
    if reinserted:
        notes.append(f"{reinserted} deleted official cell(s) were put back")
    extra = sum(1 for oid, c in entries if oid is None and c.get("cell_type") == "code")
    if extra:
        notes.append(f"{extra} code cell(s) added by the student were run where they stand")

    rebuilt = nbformat.v4.new_notebook(metadata=copy.deepcopy(official.nb.metadata))
    planned: list[PlannedCell] = []
    for oid, cell in entries:
        cell = nbformat.from_dict(dict(cell))
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        rebuilt.cells.append(cell)
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source") or ""
        if oid is None:
            planned.append(PlannedCell(source, "student"))
        elif oid in exercise_cells:
            planned.append(PlannedCell(source, "exercise", exercise_cells[oid].id, oid))
        elif oid in checks_of:
            before = len(split)
            code = instrument_check_cell(source, official.lesson, seed, nonce, allocate=allocate)
            planned.append(PlannedCell(code, "check", official_id=oid, checks=checks_of[oid],
                                       calls=list(range(before, len(split)))))
        else:
            role = "setup" if "course-setup" in cell.get("metadata", {}).get("tags", []) else "official"
            planned.append(PlannedCell(source, role, official_id=oid))
    if not run_all:  # nothing after the last check cell can change a grade
        last = max((i for i, c in enumerate(planned) if c.role == "check"), default=-1)
        planned = planned[: last + 1]
    return Plan(planned, missing, answers, notes, rebuilt, nonce, split)


# ----------------------------------------------------------------------------- check cells
def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def passed_marker(nonce: str, exercise: str) -> str:
    """The line the grader's check prints when ``exercise`` passed (the runner collects these)."""
    return f"[grader {nonce}] passed {exercise}"


MARKER_RE = re.compile(r"\[grader ([0-9a-f]{16})\] passed (\d\d\.[A-Za-z_]\w*)")


def check_prelude(seed: int = 1, nonce: str = "0" * 16) -> str:
    """Code run at the top of every official check cell: a private, freshly loaded copy of the
    check engine, so that a learner's ``check = ...`` or patched ``course_utils.checks`` has no effect."""
    pkg = _package_dir()
    return f'''# --- inserted by the grader: a fresh copy of the self-check engine -------------------------
def _course_grader_tampered():
    import builtins as _b, os as _os, sys as _s, sysconfig as _sc, types as _t
    _bad = []
    for _name in ("isinstance", "callable", "len", "getattr", "hasattr", "print", "abs", "repr", "zip",
                  "enumerate", "__import__", "float", "int", "bool", "str", "list", "tuple", "dict", "type"):
        _obj = getattr(_b, _name, None)
        if not (type(_obj) is _t.BuiltinFunctionType or (isinstance(_obj, type) and _obj.__module__ == "builtins")):
            _bad.append("builtins." + _name)
    _np = _s.modules.get("numpy")
    if _np is not None:
        _ok = (_os.path.dirname(_os.path.abspath(_np.__file__)), _sc.get_paths()["stdlib"])
        for _mod in (_np, _s.modules.get("numpy.random"), _s.modules.get("numpy.linalg")):
            for _name, _obj in list(vars(_mod or _t).items()):
                _code = getattr(getattr(_obj, "_implementation", _obj), "__code__", None)
                if isinstance(_obj, (_t.FunctionType, _t.MethodType)) or hasattr(_obj, "_implementation"):
                    if isinstance(_code, _t.CodeType):
                        _file = _code.co_filename
                        if not (_file.startswith("numpy/") or _os.path.abspath(_file).startswith(_ok)):
                            _bad.append(_mod.__name__ + "." + _name)
    return _bad


def _course_grader_fresh_check():
    import importlib as _il, importlib.util as _u, sys as _s, uuid as _uu
    _name = "_course_grader_" + _uu.uuid4().hex
    _spec = _u.spec_from_file_location(_name, {str(pkg / "__init__.py")!r},
                                       submodule_search_locations=[{str(pkg)!r}])
    _pkg = _u.module_from_spec(_spec)
    _s.modules[_name] = _pkg
    _spec.loader.exec_module(_pkg)
    _core = _il.import_module(_name + ".checks._core")
    _tampered = _course_grader_tampered()
    if _tampered:
        raise RuntimeError("the grader cannot trust this kernel: " + ", ".join(_tampered[:5])
                           + " were replaced by code from the notebook")

    def {GRADER_CHECK}(exercise, answer, seed=0, {HIDDEN_KEYWORD}=False, {CALL_KEYWORD}=None):
        if {CALL_KEYWORD} is not None:  # split: run the answer on the case inputs, the grader judges outside
            import os as _os, pickle as _pk
            _wire = _il.import_module(_name + ".grade._wire")
            _dir = _os.environ.get("CU_GRADE_SPLIT", ".")
            class _Inputs(_pk.Unpickler):  # a Build in the inputs is this fresh copy's, made by its builders
                def find_class(self, module, name):
                    if module == "course_utils" or module.startswith("course_utils."):
                        module = _name + module[len("course_utils"):]
                    return super().find_class(module, name)

            with open(_os.path.join(_dir, "in", "call-%d.pkl" % {CALL_KEYWORD}), "rb") as _fh:
                _inputs = _Inputs(_fh).load()
            _run = _core.run_answer(exercise, answer, _inputs)
            _n = len([_f for _f in _os.listdir(_os.path.join(_dir, "out"))
                      if _f.startswith("call-%d-" % {CALL_KEYWORD})])
            _wire.dump(_wire.answer_record(_run), _os.path.join(_dir, "out", "call-%d-%d.npz" % ({CALL_KEYWORD}, _n)))
            print("%s: ran %d case(s); the grader compares the results outside the sandbox" % (exercise, len(_inputs)))
            return
        _result = _core.run_check(exercise, answer, seed=seed + {int(seed)})
        print(_result.message)
        if not _result.passed:
            raise _core.CheckFailed(({INSTRUCTOR_TAG!r} if {HIDDEN_KEYWORD} else "") + _result.message)
        print("[grader {nonce}] passed " + str(exercise))
    return {GRADER_CHECK}
{GRADER_CHECK} = _course_grader_fresh_check()
del _course_grader_fresh_check, _course_grader_tampered
# --- end of grader code ---------------------------------------------------------------------
'''


def hidden_lines(source: str) -> set[int]:
    """Line numbers (1-based) inside the ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` blocks."""
    inside, lines = False, set()
    for number, line in enumerate(source.splitlines(), start=1):
        text = line.strip()
        if text.startswith("### BEGIN HIDDEN TESTS"):
            inside = True
        elif text.startswith("### END HIDDEN TESTS"):
            inside = False
        elif inside:
            lines.add(number)
    return lines


def _static_seed(node: ast.Call) -> int | None:
    """The ``seed`` of a ``check(...)`` call when it is a literal integer (0 when absent), else None."""
    if len(node.args) > 3 or any(isinstance(a, ast.Starred) for a in node.args) or len(node.args) < 2:
        return None
    given = node.args[2] if len(node.args) == 3 else None
    for kw in node.keywords:
        if kw.arg is None:
            return None
        if kw.arg == "seed":
            given = kw.value
        else:
            return None
    if given is None:
        return 0
    try:
        value = ast.literal_eval(given)
    except ValueError:
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _UseGraderCheck(ast.NodeTransformer):
    """Send ``check("NN.x", ...)`` calls to the grader's check; mark those in the hidden-test block."""

    def __init__(self, hidden: set[int] = frozenset(), allocate=None):
        self.count = 0
        self.hidden = hidden
        self.allocate = allocate

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        first = node.args[0] if node.args else None
        if (name == "check" and isinstance(first, ast.Constant) and isinstance(first.value, str)
                and re.fullmatch(r"\d\d\.[A-Za-z_]\w*", first.value)):
            node.func = ast.copy_location(ast.Name(id=GRADER_CHECK, ctx=ast.Load()), func)
            hidden = node.lineno in self.hidden
            call = self.allocate(first.value, _static_seed(node), hidden) if self.allocate else None
            if call is not None:  # judged outside: the seed (and so the hidden data) stays out of the kernel
                node.args = node.args[:2]
                node.keywords = [kw for kw in node.keywords if kw.arg not in ("seed", None)]
                node.keywords.append(ast.keyword(arg=CALL_KEYWORD, value=ast.Constant(call)))
            elif hidden:
                node.keywords.append(ast.keyword(arg=HIDDEN_KEYWORD, value=ast.Constant(True)))
            self.count += 1
        return node


def instrument_check_cell(source: str, lesson: str = "", seed: int = 1, nonce: str = "0" * 16,
                          allocate=None) -> str:
    """The official check cell as the grader runs it: every ``check("NN.x", ...)`` call goes to the
    fresh engine from :func:`check_prelude`, whatever ``check`` means in the learner's kernel. A call in the
    hidden-test block fails with a message that starts with :data:`INSTRUCTOR_TAG`."""
    code = source
    try:
        tree = ast.parse(code)
    except SyntaxError:
        try:  # IPython syntax (magics): turn it into Python first
            from IPython.core.inputtransformer2 import TransformerManager

            code = TransformerManager().transform_cell(source)
            tree = ast.parse(code)
        except Exception:
            tree = None
    if tree is not None:
        rewriter = _UseGraderCheck(hidden_lines(source), allocate)
        tree = rewriter.visit(tree)
        ast.fix_missing_locations(tree)
        if rewriter.count:
            return check_prelude(seed, nonce) + ast.unparse(tree) + "\n"
    # cannot rewrite: rebind the name after every import in the cell as a last resort
    if CHECK_RE.search(source):
        return check_prelude(seed, nonce) + f"check = {GRADER_CHECK}\n" + re.sub(
            r"^(\s*from\s+course_utils[\w.]*\s+import\s+.*\bcheck\b.*)$",
            lambda m: m.group(1) + f"; check = {GRADER_CHECK}", source, flags=re.M)
    return source
