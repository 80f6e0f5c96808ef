"""The web client's modules (web/*.js), read as text, no browser: every relative import names a file that
exists, the import graph has no cycle, and no module outgrows MAX_LINES (one concept per module)."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
MODULES = sorted(WEB.glob("*.js"))  # web/node_modules and web/dist are subdirectories: not matched
MAX_LINES = 300
# `import … from "./x.js"`, `export … from "./x.js"`, `import "./x.js"` and `import("./x.js")`.
RELATIVE_IMPORT = re.compile(r"""\b(?:from|import)\s*\(?\s*(['"])(\.\.?/[^'"]+)\1""")

Graph = dict[Path, list[Path]]


def imports(module: Path) -> list[Path]:
    text = module.read_text(encoding="utf-8")
    return [(module.parent / m.group(2)).resolve() for m in RELATIVE_IMPORT.finditer(text)]


def find_cycle(graph: Graph) -> list[Path] | None:
    """One cycle of `graph` as [a, b, …, a], or None (depth-first search)."""
    done: set[Path] = set()
    path: list[Path] = []  # the modules being visited, each importing the next

    def visit(node: Path) -> list[Path] | None:
        path.append(node)
        for dep in graph.get(node, []):
            if dep in path:
                return [*path[path.index(dep) :], dep]
            if dep not in done and (cycle := visit(dep)):
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in graph:
        if node not in done and (cycle := visit(node)):
            return cycle
    return None


GRAPH: Graph = {module.resolve(): imports(module) for module in MODULES}


def test_the_parser_sees_the_modules_and_their_imports() -> None:
    assert len(MODULES) > 10
    element = GRAPH[WEB.resolve() / "mien-avatar.js"]
    assert WEB.resolve() / "avatar-element.js" in element
    app = GRAPH[WEB.resolve() / "app.js"]  # a dynamic import
    assert WEB.resolve() / "mien-avatar.js" in app


def test_every_relative_import_exists() -> None:
    missing = [f"{m.name} imports {dep}" for m, deps in GRAPH.items() for dep in deps if not dep.is_file()]
    assert not missing, missing


def test_find_cycle_reports_the_cycle() -> None:
    a, b, c, d = (Path(name) for name in "abcd")
    assert find_cycle({a: [b], b: [c, d], c: [d], d: []}) is None
    assert find_cycle({a: [b], b: [c], c: [d], d: [b]}) == [b, c, d, b]


def test_no_import_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(p.name for p in cycle or [])


def test_no_module_exceeds_max_lines() -> None:
    sizes = {m.name: len(m.read_text(encoding="utf-8").splitlines()) for m in MODULES}
    too_long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines (split them by concept): {too_long}"
