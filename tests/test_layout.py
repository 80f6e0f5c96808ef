"""The code's shape, checked: modules stay one concept's size, and importing the server never loads the
benchmarks. (The layers and the absence of import cycles are import-linter's contract in pyproject.toml,
run by `make test`; web/'s modules have tests/web/test_modules.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 300


def test_no_python_module_is_over_300_lines() -> None:
    sizes = {
        str(path.relative_to(ROOT)): len(path.read_text().splitlines())
        for package in ("server", "animation", "bench")
        for path in (ROOT / package).rglob("*.py")
    }
    assert len(sizes) > 60
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_importing_the_server_loads_no_benchmark() -> None:
    code = (
        "import sys, server.app, server.cli, server.runner\n"
        "print(sorted(m for m in sys.modules if m == 'bench' or m.startswith('bench.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
