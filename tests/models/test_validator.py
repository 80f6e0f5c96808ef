"""The Khronos glTF validator (npm `gltf-validator`, installed by `npm ci` in web/) finds no errors or
warnings in Mien's head, in a freshly baked identity, or in the foreign-style test avatar."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from animation.avatar import DEFAULT_GLB, identity_glb
from tests.models.foreign import foreign_glb

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("validate.mjs")


def validate(*paths: Path) -> list[dict]:
    node = shutil.which("node")
    assert node, "node is needed for the glTF validator"
    assert (ROOT / "web" / "node_modules" / "gltf-validator").is_dir(), (
        "run `npm ci` in web/ (make test does)"
    )
    result = subprocess.run(
        [node, str(SCRIPT), *map(str, paths)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("validator")
    (tmp / "identity.glb").write_bytes(identity_glb(11))
    (tmp / "foreign.glb").write_bytes(foreign_glb())
    (tmp / "broken.glb").write_bytes(DEFAULT_GLB.read_bytes()[:50_000])  # proves the validator can fail
    paths = [DEFAULT_GLB, tmp / "identity.glb", tmp / "foreign.glb", tmp / "broken.glb"]
    return {Path(r["file"]).stem: r for r in validate(*paths)}


@pytest.mark.parametrize("name", ["ict_head", "identity", "foreign"])
def test_glb_is_validator_clean(reports: dict[str, dict], name: str) -> None:
    report = reports[name]
    assert (report["errors"], report["warnings"]) == (0, 0), report["messages"]


def test_the_validator_reports_a_truncated_file(reports: dict[str, dict]) -> None:
    assert reports["broken"]["errors"] > 0
