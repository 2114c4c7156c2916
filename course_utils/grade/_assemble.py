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
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..authoring import CHECK_RE, EXERCISE_RE, Exercise, exercises, lessons, stamp_solution, strip_cell

#: Submissions larger than this are not read (``invalid_notebook``).
MAX_NOTEBOOK_BYTES = 200 * 2**20
GRADER_CHECK = "_course_grader_check"
#: Start of the message of a check that failed in the instructor's hidden-test block.
INSTRUCTOR_TAG = "[instructor test] "
HIDDEN_KEYWORD = "_course_hidden"


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
    path: Path | None  # None: no notebook for this lesson was found
    note: str = ""


@dataclass
class PlannedCell:
    """One code cell of the rebuilt notebook, as it will run."""

    source: str
    role: str  # setup | exercise | check | official | student
    exercise: str | None = None  # for role exercise: its id
    official_id: str | None = None
    checks: list[str] = field(default_factory=list)  # for role check: exercise ids


@dataclass
class Plan:
    cells: list[PlannedCell]
    missing: set[str]
    answers: dict[str, str]  # exercise id -> the learner's source of the exercise cell
    notes: list[str] = field(default_factory=list)
    notebook: nbformat.NotebookNode | None = None  # the rebuilt notebook (all cell types)
    nonce: str = ""  # printed by the grader's check on success: proof that the check really ran


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
def _lesson_notebooks(folder: Path, lesson: str) -> list[Path]:
    return sorted(p for p in folder.rglob("*.ipynb")
                  if p.name.startswith(lesson + "_") and ".ipynb_checkpoints" not in p.parts
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def discover(folder: Path, official: Official) -> list[Submission]:
    """One :class:`Submission` per student folder (``DIR/<student>/NN_*.ipynb``, searched recursively)
    and per notebook directly in ``DIR`` (``DIR/<student>.ipynb``) (lesson 00)."""
    if not folder.is_dir():
        raise GradingSetupError(f"submissions folder {folder} does not exist")
    subs: list[Submission] = []
    names: set[str] = set()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            student = entry.name
            found = _lesson_notebooks(entry, official.lesson)
            if not found:
                others = sorted(p.relative_to(entry).as_posix() for p in entry.rglob("*.ipynb")
                                if ".ipynb_checkpoints" not in p.parts)[:5]
                note = (f"no notebook named {official.lesson}_*.ipynb in {entry.name}/"
                        + (f" (found: {', '.join(others)})" if others else ""))
                sub = Submission(student, None, note)
            elif len(found) == 1:
                sub = Submission(student, found[0])
            else:
                exact = [p for p in found if p.name == official.name]
                chosen = exact[0] if len(exact) == 1 else max(found, key=lambda p: p.stat().st_mtime)
                why = "the official file name" if len(exact) == 1 else "the newest"
                sub = Submission(student, chosen, f"several notebooks for lesson {official.lesson} "
                                 f"({', '.join(p.relative_to(entry).as_posix() for p in found)}); graded "
                                 f"{chosen.relative_to(entry).as_posix()} ({why})")
        elif entry.suffix == ".ipynb" and entry.is_file():
            sub = Submission(entry.stem, entry)
        else:
            continue
        while sub.student in names:
            sub.student += "_"
        names.add(sub.student)
        subs.append(sub)
    return subs


def read_submission(path: Path) -> nbformat.NotebookNode:
    """Read a submitted notebook; raise ValueError with a readable reason when it is not one."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError("the file is empty (0 bytes)")
    if size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is {size / 2**20:.0f} MB, larger than the {MAX_NOTEBOOK_BYTES // 2**20} MB "
                         "the grader reads")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ValueError(f"not a readable notebook ({type(exc).__name__}: {first[:300]})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise ValueError("not a notebook: it has no list of cells")
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


def assemble(nb, official: Official, *, seed: int = 1, run_all: bool = False, nonce: str | None = None) -> Plan:
    """Rebuild a submission on the official template; return the cells to run (lesson 00)."""
    nonce = nonce or secrets.token_hex(8)
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
            mine = _norm(cell.get("source") or "")
            if mine not in (_norm(student_source(oc)), _norm(oc.source)) or cell.get("cell_type") != oc.cell_type:
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
            planned.append(PlannedCell(instrument_check_cell(source, official.lesson, seed, nonce), "check",
                                       official_id=oid, checks=checks_of[oid]))
        else:
            role = "setup" if "course-setup" in cell.get("metadata", {}).get("tags", []) else "official"
            planned.append(PlannedCell(source, role, official_id=oid))
    if not run_all:  # nothing after the last check cell can change a grade
        last = max((i for i, c in enumerate(planned) if c.role == "check"), default=-1)
        planned = planned[: last + 1]
    return Plan(planned, missing, answers, notes, rebuilt, nonce)


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

    def {GRADER_CHECK}(exercise, answer, seed=0, {HIDDEN_KEYWORD}=False):
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


class _UseGraderCheck(ast.NodeTransformer):
    """Send ``check("NN.x", ...)`` calls to the grader's check; mark those in the hidden-test block."""

    def __init__(self, hidden: set[int] = frozenset()):
        self.count = 0
        self.hidden = hidden

    def visit_Call(self, node: ast.Call):
        self.generic_visit(node)
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        first = node.args[0] if node.args else None
        if (name == "check" and isinstance(first, ast.Constant) and isinstance(first.value, str)
                and re.fullmatch(r"\d\d\.[A-Za-z_]\w*", first.value)):
            node.func = ast.copy_location(ast.Name(id=GRADER_CHECK, ctx=ast.Load()), func)
            if node.lineno in self.hidden:
                node.keywords.append(ast.keyword(arg=HIDDEN_KEYWORD, value=ast.Constant(True)))
            self.count += 1
        return node


def instrument_check_cell(source: str, lesson: str = "", seed: int = 1, nonce: str = "0" * 16) -> str:
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
        rewriter = _UseGraderCheck(hidden_lines(source))
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
