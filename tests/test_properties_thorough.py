"""The property tests again with fresh random examples, ten times as many (the "thorough" profile).

By default (profile "ci", tests/conftest.py) every run draws the same examples, so CI is
deterministic; this slow run keeps looking for new counterexamples.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

HERE = Path(__file__).parent
PROPERTY_TESTS = [
    "s3/test_protocol_r1.py::test_parser_never_raises",
    "s3/test_protocol.py::test_parser_never_raises",
    "s3/test_mask.py::test_mask_properties_on_random_scripted_trajectories",
    "s3/test_rollout_r1.py::test_mask_properties_hold_for_search_r1",
]


def _run(profile: str, tests: list[str]) -> str:
    env = {**os.environ, "HYPOTHESIS_PROFILE": profile}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        "--hypothesis-show-statistics",
    ]
    proc = subprocess.run(
        [*cmd, *(str(HERE / t) for t in tests)], env=env, capture_output=True, text=True, timeout=1800
    )
    assert proc.returncode == 0, proc.stdout[-4000:]
    return proc.stdout


@pytest.mark.skipif(os.environ.get("HYPOTHESIS_PROFILE", "ci") != "ci", reason="another profile chosen")
def test_property_tests_are_deterministic_by_default():
    assert settings.default.derandomize and settings.default.database is None
    runs = [_run("ci", PROPERTY_TESTS[:1]) for _ in range(2)]
    counts = [[line for line in out.splitlines() if "passing" in line] for out in runs]
    assert counts[0] and counts[0] == counts[1]  # same examples, same counts of valid and invalid


@pytest.mark.slow
def test_property_tests_with_fresh_examples():
    out = _run("thorough", PROPERTY_TESTS)
    assert "3000 passing" in out  # test_parser_never_raises asks for 300: ten times as many ran
