"""The sample project examples/pytest-plugin-demo runs its own test suite, in a subprocess and
with its own pytest configuration, the way an outside project that installed zats would: its
code and tests use nats-py and the fixtures of zats's pytest plugin, and never import zats."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DEMO = Path(__file__).resolve().parent.parent / "examples" / "pytest-plugin-demo"

pytestmark = pytest.mark.timeout(120)


def test_the_demo_project_never_imports_zats():
    sources = list(DEMO.rglob("*.py"))
    assert sources
    for path in sources:
        assert not re.search(r"^\s*(import|from)\s+zats\b", path.read_text(), re.M), path


def test_the_demo_projects_tests_pass_with_only_the_plugin():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:randomly"], cwd=DEMO,
                          env=env, capture_output=True, text=True, timeout=100)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^13 passed", out, re.M), out
