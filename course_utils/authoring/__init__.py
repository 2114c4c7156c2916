"""Authoring: ``solutions/`` (the single source) -> ``notebooks/`` (student versions).

Introduced in lesson 00 (setup); used by instructors and CI.

Markers (nbgrader's syntax) in solution notebooks:

* ``### BEGIN SOLUTION`` / ``### END SOLUTION`` — in code cells replaced by
  ``# YOUR CODE HERE`` + ``raise NotImplementedError()``; in markdown cells by
  ``YOUR ANSWER HERE``.
* ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` — instructor-only
  tests, allowed only in a check cell; removed from student versions.
* ``### EXERCISE NN.name (P points)`` — first line of every exercise cell;
  declares the exercise id and its points. A code exercise needs a check cell:
  a code cell calling ``check("NN.name", ...)``.

``python -m course_utils.authoring build`` stamps the standard header (Colab
badge + first cell) into each solution and writes the student versions;
``python -m course_utils.authoring check`` fails when a student version is stale
or hand-edited, or a marker is malformed, naming notebook and cell.
"""
from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from ..colab import colab_url, first_cell_source

BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
EXERCISE_RE = re.compile(r"^\s*(?:#+)\s*EXERCISE\s+(\d\d\.[A-Za-z_]\w*)\s*\((\d+(?:\.\d+)?)\s*points?\)\s*$")
CHECK_RE = re.compile(r"""\bcheck\(\s*["'](\d\d\.[A-Za-z_]\w*)["']""")
LESSON_RE = re.compile(r"^(\d\d)_[a-z0-9_]+\.ipynb$")
HEADER_TAGS = ("course-badge", "course-setup")
NBFORMAT_MINOR = 5


class MarkerError(ValueError):
    """A solution notebook breaks the marker rules; the message names notebook and cell."""


@dataclass
class Exercise:
    """One graded exercise declared in a solution notebook (lesson 00)."""

    id: str
    points: float
    kind: str  # "code" or "markdown"
    cell_id: str
    cell_index: int
    check_cell_ids: list[str] = field(default_factory=list)


def _where(nb_name: str, index: int) -> str:
    return f"{nb_name}, cell {index}"


def _blocks(lines: list[str], where: str) -> list[tuple[str, int, int]]:
    """(kind, begin_line, end_line) of each marker block; raises MarkerError on bad nesting."""
    blocks, open_kind, open_line = [], None, -1
    pairs = {BEGIN_SOLUTION: ("solution", END_SOLUTION), BEGIN_HIDDEN: ("hidden", END_HIDDEN)}
    ends = {END_SOLUTION: "solution", END_HIDDEN: "hidden"}
    for i, line in enumerate(lines):
        text = line.strip()
        if text in pairs:
            if open_kind is not None:
                raise MarkerError(f"{where}, line {i + 1}: {text!r} inside an open {open_kind} block "
                                  f"(opened on line {open_line + 1}); blocks cannot nest.")
            open_kind, open_line = pairs[text][0], i
        elif text in ends:
            if open_kind != ends[text]:
                raise MarkerError(f"{where}, line {i + 1}: {text!r} without a matching BEGIN.")
            blocks.append((open_kind, open_line, i))
            open_kind = None
        elif text.startswith("### BEGIN") or text.startswith("### END"):
            raise MarkerError(f"{where}, line {i + 1}: unknown marker {text!r}; use "
                              f"{BEGIN_SOLUTION!r}/{END_SOLUTION!r} or {BEGIN_HIDDEN!r}/{END_HIDDEN!r}.")
    if open_kind is not None:
        raise MarkerError(f"{where}, line {open_line + 1}: {open_kind} block is never closed.")
    return blocks


def _is_header(cell) -> bool:
    return any(tag in cell.get("metadata", {}).get("tags", []) for tag in HEADER_TAGS)


def exercises(nb, nb_name: str = "notebook") -> list[Exercise]:
    """Validate the markers of a solution notebook and list its exercises (lesson 00)."""
    found: dict[str, Exercise] = {}
    lesson = nb_name[:2] if nb_name[:2].isdigit() else None
    for index, cell in enumerate(nb.cells):
        where = _where(nb_name, index)
        lines = cell.source.splitlines()
        blocks = _blocks(lines, where)
        header = EXERCISE_RE.match(lines[0]) if lines else None
        if cell.cell_type not in ("code", "markdown"):
            if blocks or header:
                raise MarkerError(f"{where}: markers are only allowed in code and markdown cells "
                                  f"(this is a {cell.cell_type} cell).")
            continue
        if any(kind == "hidden" for kind, _, _ in blocks):
            if cell.cell_type != "code" or not CHECK_RE.search(cell.source):
                raise MarkerError(f"{where}: hidden tests must sit in a check cell (a code cell calling "
                                  "check(\"NN.name\", ...)).")
        has_solution = any(kind == "solution" for kind, _, _ in blocks)
        if header:
            ex_id, points = header.group(1), float(header.group(2))
            if lesson and not ex_id.startswith(lesson + "."):
                raise MarkerError(f"{where}: exercise {ex_id!r} must start with this lesson's number {lesson}.")
            if ex_id in found:
                raise MarkerError(f"{where}: exercise {ex_id!r} is declared twice.")
            if points <= 0:
                raise MarkerError(f"{where}: exercise {ex_id!r} needs a positive number of points.")
            if not has_solution:
                raise MarkerError(f"{where}: exercise {ex_id!r} has no {BEGIN_SOLUTION!r} block.")
            found[ex_id] = Exercise(ex_id, points, cell.cell_type, cell.get("id", ""), index)
        elif has_solution:
            raise MarkerError(f"{where}: a solution block needs an exercise header on the cell's first "
                              "line, e.g. '### EXERCISE 02.adam_step (2 points)'.")
        elif any(line.lstrip().startswith("#") and "EXERCISE" in line for line in lines[:1]):
            raise MarkerError(f"{where}: malformed exercise header {lines[0]!r}; expected "
                              "'### EXERCISE NN.name (P points)'.")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or _is_header(cell):
            continue
        for ex_id in CHECK_RE.findall(cell.source):
            if ex_id not in found:
                raise MarkerError(f"{_where(nb_name, index)}: check for unknown exercise {ex_id!r}.")
            if found[ex_id].cell_index > index:
                raise MarkerError(f"{_where(nb_name, index)}: check for {ex_id!r} comes before the exercise.")
            if cell.get("id", "") not in found[ex_id].check_cell_ids:  # public + hidden check in one cell
                found[ex_id].check_cell_ids.append(cell.get("id", ""))
    for ex in found.values():
        if ex.kind == "code" and not ex.check_cell_ids:
            raise MarkerError(f"{_where(nb_name, ex.cell_index)}: exercise {ex.id!r} has no check cell "
                              f"(add a code cell with check(\"{ex.id}\", ...)).")
    return list(found.values())


def strip_cell(source: str, cell_type: str, where: str = "cell") -> str:
    """Student version of one cell's source: solutions replaced, hidden tests removed (lesson 00)."""
    lines = source.splitlines()
    blocks = _blocks(lines, where)
    out: list[str] = []
    pos = 0
    for kind, begin, end in blocks:
        out.extend(lines[pos:begin])
        if kind == "solution":
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            if cell_type == "code":
                out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
            else:
                out.append("YOUR ANSWER HERE")
        pos = end + 1
    out.extend(lines[pos:])
    while out and not out[-1].strip():
        out.pop()
    return "\n".join(out)


def source_hash(nb) -> str:
    """sha256 of a notebook's cell types, sources and tags (outputs excluded) (lesson 00)."""
    content = [(c.cell_type, c.source, sorted(c.get("metadata", {}).get("tags", []))) for c in nb.cells]
    return hashlib.sha256(json.dumps(content, ensure_ascii=False).encode()).hexdigest()


def _header_cells(rel_path: str) -> list:
    badge = nbformat.v4.new_markdown_cell(
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(rel_path)})"
        "\n\n*Run the next cell first: it sets up the lesson (on Colab it also fetches the course).*")
    setup = nbformat.v4.new_code_cell(first_cell_source())
    for cell, tag, cid in ((badge, HEADER_TAGS[0], "course-badge"), (setup, HEADER_TAGS[1], "course-setup")):
        cell.metadata["tags"] = [tag]
        cell.id = cid
    return [badge, setup]


def _with_header(nb, rel_path: str):
    nb = copy.deepcopy(nb)
    body = [c for c in nb.cells if not _is_header(c)]
    nb.cells = _header_cells(rel_path) + body
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.nbformat, nb.nbformat_minor = 4, max(NBFORMAT_MINOR, nb.get("nbformat_minor", 0))
    return nb


def stamp_solution(nb, name: str):
    """The solution notebook with the current standard header and kernel (lesson 00).

    Existing outputs of the setup cell are kept when its source is unchanged.
    """
    stamped = _with_header(nb, f"solutions/{name}")
    old = {c.get("id"): c for c in nb.cells if _is_header(c)}
    for cell in stamped.cells[:2]:
        prev = old.get(cell.id)
        if prev is not None and prev.source == cell.source and cell.cell_type == "code":
            cell.outputs, cell.execution_count = prev.get("outputs", []), prev.get("execution_count")
    return stamped


def student_version(solution, name: str):
    """Build the student notebook from a (stamped) solution notebook (lesson 00)."""
    exercises(solution, name)  # validates markers
    nb = _with_header(solution, f"notebooks/{name}")
    for index, cell in enumerate(nb.cells):
        if cell.cell_type in ("code", "markdown") and not _is_header(cell):
            cell.source = strip_cell(cell.source, cell.cell_type, _where(name, index))
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
        cell.metadata["course"] = {"id": cell.get("id", "")}
    nb.metadata["course"] = {
        "source": f"solutions/{name}",
        "source_sha256": source_hash(solution),
        "generated_by": "python -m course_utils.authoring build",
    }
    return nb


def lessons(root: Path) -> list[Path]:
    """Solution notebooks ``solutions/NN_slug.ipynb`` in lesson order (lesson 00)."""
    return sorted(p for p in (root / "solutions").glob("*.ipynb") if LESSON_RE.match(p.name))


def dumps(nb) -> str:
    """Canonical JSON text of a notebook (stable across runs) (lesson 00)."""
    return nbformat.writes(nb, version=4) + ("" if nbformat.writes(nb, version=4).endswith("\n") else "\n")


def build(root: Path, only: str | None = None) -> list[Path]:
    """Stamp every solution and write its student version; return files written (lesson 00)."""
    written = []
    for path in lessons(root):
        if only and not path.name.startswith(only):
            continue
        nb = nbformat.read(path, as_version=4)
        stamped = stamp_solution(nb, path.name)
        text = dumps(stamped)
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
        target = root / "notebooks" / path.name
        target.parent.mkdir(exist_ok=True)
        student = dumps(student_version(stamped, path.name))
        if not target.exists() or target.read_text(encoding="utf-8") != student:
            target.write_text(student, encoding="utf-8")
            written.append(target)
    return written


def check(root: Path) -> list[str]:
    """Problems that make ``notebooks/`` out of date or invalid; empty when all is well (lesson 00)."""
    problems = []
    names = set()
    for path in lessons(root):
        names.add(path.name)
        try:
            nb = nbformat.read(path, as_version=4)
            stamped = stamp_solution(nb, path.name)
            student = dumps(student_version(stamped, path.name))
        except MarkerError as exc:
            problems.append(f"marker error: {exc}")
            continue
        except Exception as exc:  # unreadable notebook
            problems.append(f"{path.name}: cannot read solution ({type(exc).__name__}: {exc})")
            continue
        if [c.source for c in stamped.cells[:2]] != [c.source for c in nb.cells[:2]]:
            problems.append(f"solutions/{path.name}: standard header missing or out of date; run `make notebooks`.")
        target = root / "notebooks" / path.name
        if not target.exists():
            problems.append(f"notebooks/{path.name}: missing; run `make notebooks`.")
            continue
        current = target.read_text(encoding="utf-8")
        if current == student:
            continue
        try:
            recorded = json.loads(current).get("metadata", {}).get("course", {}).get("source_sha256")
        except json.JSONDecodeError:
            recorded = None
        if recorded != source_hash(stamped):
            problems.append(f"notebooks/{path.name}: stale (solutions/{path.name} changed since it was built); "
                            "run `make notebooks`.")
        else:
            problems.append(f"notebooks/{path.name}: hand-edited (differs from what solutions/{path.name} "
                            "generates); edit the solution instead and run `make notebooks`.")
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        if path.name not in names:
            problems.append(f"notebooks/{path.name}: has no solutions/{path.name}; delete it or add the solution.")
    return problems
