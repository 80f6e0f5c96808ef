from __future__ import annotations

import json

import pytest

from animation import bench


def test_bench_prints_one_json_measurement(capsys: pytest.CaptureFixture[str]) -> None:
    bench.main(["--faces", "16", "--seconds", "1", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert result["faces"] == 16 and result["steps"] == 30
    assert result["seconds"] > 0 and result["faces_per_second"] > 0
    assert result["faces_per_second"] == pytest.approx(16 * 30 / result["seconds"], rel=0.01)


def test_bench_rejects_nonsense() -> None:
    with pytest.raises(SystemExit):
        bench.main(["--faces", "0", "--json"])
