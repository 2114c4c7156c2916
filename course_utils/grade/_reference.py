"""Find exercise cells that reach the course's own reference implementation (grader, lesson 00).

The package ships reference versions of the exercise functions by design: later lessons use them, and
each lesson says which one stands for an exercise with ``use_mine("NN.x", mine, REFERENCE)``. The
grader reads those calls in the official solution, resolves ``REFERENCE`` to qualified names
(``course_utils.losses.huber_grad``) through the notebook's imports and assignments, and then looks for
those names in a submitted exercise cell: through an import, a module alias the lesson defined
(``L.huber_grad``), a name the lesson bound to the reference, or ``getattr(module, "name")``. This is a
static analysis of the cell, outside the sandbox: it does not see a reference reached through other
code (a helper that calls it, ``exec`` of a built string); see docs/instructors.md.
"""
from __future__ import annotations

import ast

PACKAGE = "course_utils"


def _imports(tree: ast.AST, aliases: dict[str, set[str]]) -> None:
    """Add ``name -> {qualified names}`` for the imports and simple assignments in ``tree``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == PACKAGE:
                    aliases.setdefault(a.asname or a.name.split(".")[0], set()).add(
                        a.name if a.asname else a.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == PACKAGE:
                for a in node.names:
                    aliases.setdefault(a.asname or a.name, set()).add(f"{node.module}.{a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            found = target_names(node.value, aliases)
            if found:
                aliases.setdefault(node.targets[0].id, set()).update(found)


def _qualified(node: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
    if isinstance(node, ast.Name):
        return set(aliases.get(node.id, ()))
    if isinstance(node, ast.Attribute):
        return {f"{q}.{node.attr}" for q in _qualified(node.value, aliases)}
    return set()


def names_in(node: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
    """Qualified package names that ``node`` refers to (whole attribute chains, names,
    ``getattr(mod, "x")``, strings naming a package module)."""
    found: set[str] = set()
    inner = {id(sub.value) for sub in ast.walk(node) if isinstance(sub, ast.Attribute)}
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Name, ast.Attribute)) and id(sub) not in inner:
            found |= _qualified(sub, aliases)
        elif (isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name) and sub.func.id == "getattr"
              and len(sub.args) >= 2 and isinstance(sub.args[1], ast.Constant) and isinstance(sub.args[1].value, str)):
            found |= {f"{q}.{sub.args[1].value}" for q in _qualified(sub.args[0], aliases)}
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str) and sub.value.startswith(PACKAGE + "."):
            found.add(sub.value)  # importlib.import_module("course_utils.x"), __import__
    return found


def target_names(expr: ast.AST, aliases: dict[str, set[str]]) -> set[str]:
    """What an expression standing for a function names: the function itself (``L.huber``), or the one a
    lambda calls (``lambda z: L.logsumexp(z, axis=-1)``, also when its result is indexed or transposed)."""
    target = expr.body if isinstance(expr, ast.Lambda) else expr
    for _ in range(20):
        if isinstance(target, ast.Call):
            target = target.func
        elif isinstance(target, ast.Subscript) or (isinstance(target, ast.Attribute)
                                                    and isinstance(target.value, (ast.Call, ast.Subscript))):
            target = target.value
        else:
            break
    if not isinstance(target, (ast.Name, ast.Attribute)):
        return set()
    return _qualified(target, aliases)


def _parse(source: str) -> ast.AST | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        try:
            from IPython.core.inputtransformer2 import TransformerManager

            return ast.parse(TransformerManager().transform_cell(source))
        except Exception:  # noqa: BLE001
            return None


def references(official) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(exercise id -> qualified names of its reference, the lesson's own aliases) from the solution."""
    aliases: dict[str, set[str]] = {}
    calls: list[tuple[str, ast.AST]] = []
    exercise_cells = {ex.cell_id for ex in official.exercises}
    for cell in official.nb.cells:
        if cell.get("cell_type") != "code" or cell.get("id") in exercise_cells:
            continue
        tree = _parse(cell.get("source") or "")
        if tree is None:
            continue
        _imports(tree, aliases)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
                    and (node.func.id if isinstance(node.func, ast.Name) else node.func.attr) == "use_mine"
                    and len(node.args) >= 3 and isinstance(node.args[0], ast.Constant)
                    and isinstance(node.args[0].value, str)):
                calls.append((node.args[0].value, node.args[2]))
    refs: dict[str, set[str]] = {}
    for exercise, expr in calls:
        found = {q for q in target_names(expr, aliases) if q.count(".") >= 2}
        if found:
            refs.setdefault(exercise, set()).update(found)
    return refs, aliases


def uses_reference(source: str, exercise: str, refs: dict[str, set[str]], aliases: dict[str, set[str]]) -> str:
    """The reference name that the learner's ``source`` reaches for ``exercise`` ("" when none)."""
    wanted = refs.get(exercise)
    if not wanted:
        return ""
    tree = _parse(source)
    if tree is None:
        return ""
    local = {k: set(v) for k, v in aliases.items()}
    local.setdefault(PACKAGE, set()).add(PACKAGE)  # the package itself, imported anywhere in the kernel
    _imports(tree, local)
    imported: set[str] = set()  # what the cell imports, used or not (a later cell may use it)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.split(".")[0] == PACKAGE:
            for a in node.names:
                if a.name == "*":
                    imported |= {ref for ref in wanted if ref.rsplit(".", 1)[0] == node.module}
                else:
                    imported.add(f"{node.module}.{a.name}")
    for name in sorted(names_in(tree, local) | imported):
        for ref in wanted:
            if name == ref or name.startswith(ref + "."):
                return ref
    return ""
