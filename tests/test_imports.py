"""Import hygiene of ``src/assay``: no private name crosses a package, no import circle.

Both tests read the source with :mod:`ast` (nothing is imported), so they see every import
statement: at module level, inside functions and under ``TYPE_CHECKING``.

**Private.** A dotted name is private from its last component that starts with ``_`` (dunder
names such as ``__version__`` are not private). That component belongs to the package holding it:
``assay.data._io`` to ``assay.data``; ``assay.agreement._io.Ratings`` too; a private name of a
module belongs to that module's package (``assay.torch.losses._LongTailLoss`` to
``assay.torch``), and a private name of a top-level module to that module alone
(``assay.leakage._x`` to ``assay.leakage``). Private top-level packages (``assay._audit``,
``assay._kernels``, ``assay._validation``) belong to ``assay``, so every module may import them,
but not their private submodules. A module may import what belongs to a package it is in.

**Circles.** The units are the top-level modules and packages of ``assay`` (``assay.report``,
``assay._audit``, ``assay.leakage``...); an import anywhere in a unit's files is an edge to the
unit it names. The graph must be acyclic: a circle through function-level imports is still a
circle (the layers are in ``docs/architecture.md``). Only ``assay.cli`` imports ``assay.cli``.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PACKAGE = SRC / "assay"


def _files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _module_name(path: Path) -> tuple[str, bool]:
    """Dotted name of a source file, and whether it is a package's ``__init__``."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts.pop()
    return ".".join(parts), is_package


def _is_private(component: str) -> bool:
    return component.startswith("_") and not (
        component.startswith("__") and component.endswith("__")
    )


def _is_package(dotted: str) -> bool:
    return (SRC.joinpath(*dotted.split(".")) / "__init__.py").is_file()


def _is_module(dotted: str) -> bool:
    return _is_package(dotted) or SRC.joinpath(*dotted.split(".")).with_suffix(".py").is_file()


def _lazy_exports() -> dict[str, str]:
    """``assay.__init__``'s ``_EXPORTS``: public name -> the module that defines it."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None
        )
        if isinstance(target, ast.Name) and target.id == "_EXPORTS":
            value = ast.literal_eval(node.value)  # type: ignore[union-attr, arg-type]
            assert isinstance(value, dict)
            return value
    raise AssertionError("assay/__init__.py has no _EXPORTS table")


def _imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """``(line, full dotted name imported, statement)`` for every import of ``assay``.

    ``from m import n`` yields ``m.n``; relative imports are resolved against the file's package.
    Attribute access on an imported assay module (``mod._name``) counts as importing it.
    """
    module, is_package = _module_name(path)
    package = module if is_package else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    bound: dict[str, str] = {}  # local name -> the assay module it is bound to
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "assay":
                    continue
                yield node.lineno, alias.name, ast.unparse(node)
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound["assay"] = "assay"
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "assay":
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                yield node.lineno, full, ast.unparse(node)
                if _is_module(full):
                    bound[alias.asname or alias.name] = full
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr):
            chain: list[str] = [node.attr]
            value: ast.expr = node.value
            while isinstance(value, ast.Attribute):
                chain.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in bound:
                dotted = ".".join([bound[value.id], *reversed(chain)])
                yield node.lineno, dotted, ast.unparse(node)


def _owner(dotted: str) -> str | None:
    """The package a private dotted name belongs to (None when the name is public)."""
    parts = dotted.split(".")
    private = [i for i, part in enumerate(parts) if _is_private(part)]
    if not private:
        return None
    holder = parts[: private[-1]]
    if len(holder) <= 2 or _is_package(".".join(holder)):
        return ".".join(holder)
    return ".".join(holder[:-1])


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _unit(dotted: str, exports: dict[str, str]) -> str | None:
    parts = dotted.split(".")
    if len(parts) < 2 or parts[0] != "assay":
        return None
    if not _is_module(".".join(parts[:2])):
        target = exports.get(parts[1])  # ``from assay import Dataset``: the lazy export's module
        return _unit(target, exports) if target else None
    return ".".join(parts[:2])


def _import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {unit it imports: ["file:line: statement", ...]}."""
    exports = _lazy_exports()
    graph: dict[str, dict[str, list[str]]] = {}
    for path in _files():
        module, _ = _module_name(path)
        unit = _unit(module, exports)
        if unit is None:  # assay/__init__.py: the lazy table names every unit by design
            continue
        edges = graph.setdefault(unit, {})
        for line, dotted, statement in _imports(path):
            target = _unit(dotted, exports)
            where = f"{path.relative_to(ROOT)}:{line}: {statement}"
            if target is not None and target != unit and where not in edges.get(target, []):
                edges.setdefault(target, []).append(where)
    return graph


def _find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle ``[a, b, ..., a]`` of the graph, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    for start in sorted(graph):
        if state.get(start):
            continue
        path = [start]
        state[start] = 1
        stack = [iter(sorted(graph.get(start, {})))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def test_no_private_name_is_imported_across_packages() -> None:
    problems = []
    for path in _files():
        module, _ = _module_name(path)
        for line, dotted, statement in _imports(path):
            owner = _owner(dotted)
            if owner is not None and not _inside(module, owner):
                problems.append(
                    f"{path.relative_to(ROOT)}:{line}: {statement}  ({dotted} is private to "
                    f"{owner})"
                )
    assert not problems, (
        "Private names imported from outside their package; make the helper public (no "
        "underscore, documented, in __all__) in one place, or export it from the package's "
        "__init__ and import it from there:\n" + "\n".join(problems)
    )


def test_the_top_level_import_graph_has_no_cycle() -> None:
    graph = _import_graph()
    assert {"assay._audit", "assay.report", "assay.agreement", "assay.consensus"} <= set(graph)
    cycle = _find_cycle(graph)
    if cycle is not None:
        steps = []
        for a, b in zip(cycle, cycle[1:], strict=False):
            steps.append(f"{a} -> {b}:\n    " + "\n    ".join(graph[a][b][:3]))
        raise AssertionError(
            "Import cycle between assay's top-level modules: " + " -> ".join(cycle) + "\n"
            + "\n".join(steps)
        )


def test_only_the_cli_imports_the_cli() -> None:
    importers = [
        f"{where}"
        for unit, edges in _import_graph().items()
        if unit != "assay.cli"
        for where in edges.get("assay.cli", [])
    ]
    assert not importers, "Only assay.cli may import assay.cli:\n" + "\n".join(importers)


def test_the_checks_catch_what_they_are_for() -> None:
    """The rules themselves, on names the package does not import (any more)."""
    assert _owner("assay.leakage._split_codes") == "assay.leakage"
    assert _owner("assay.report._source.check_alignment") == "assay.report"
    assert _owner("assay._audit._result._jsonable") == "assay._audit"
    assert _owner("assay.torch.losses._LongTailLoss") == "assay.torch"
    assert _owner("assay._kernels.knn.blocked_topk") == "assay"
    assert _owner("assay.leakage.find_leakage") is None
    assert _owner("assay.__version__") is None
    assert _find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b": []}, "b": {}, "c": {"a": [], "b": []}}) is None
