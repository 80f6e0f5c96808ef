"""Fixtures for the animation tests."""

from __future__ import annotations

import pytest

from animation.engine import FaceBank


@pytest.fixture
def bank() -> FaceBank:
    return FaceBank(capacity=4, seed=1234)
