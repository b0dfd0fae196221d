"""What `pip install .` ships, read from pyproject: every package directory is listed (a
subpackage left out works in an editable install and breaks a real one), the top-level `zats`
package carries the version (one source: pyproject, the broker and the client read it there) and
the `py.typed` marker, and the pytest plugin is registered."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import zats
import zats.client
from zats.broker.version import ZATS_VERSION

ROOT = Path(__file__).resolve().parent.parent
with open(ROOT / "pyproject.toml", "rb") as _f:
    PYPROJECT = tomllib.load(_f)
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def test_every_package_directory_is_shipped():
    found = set()
    for pkg, directory in SETUPTOOLS["package-dir"].items():
        base = ROOT / directory
        for init in base.rglob("__init__.py"):
            found.add(".".join([pkg, *init.parent.relative_to(base).parts]))
    assert found == set(SETUPTOOLS["packages"])


def test_one_version_everywhere():
    assert PYPROJECT["project"]["dynamic"] == ["version"]
    assert SETUPTOOLS["dynamic"]["version"] == {"attr": "zats.__version__"}
    assert zats.__version__ == zats.client.__version__ == ZATS_VERSION
    assert importlib.metadata.version("zats") == zats.__version__


def test_typed_marker_and_plugin_entry_point():
    assert (ROOT / SETUPTOOLS["package-dir"]["zats"] / "py.typed").is_file()
    assert SETUPTOOLS["package-data"]["zats"] == ["py.typed"]
    assert PYPROJECT["project"]["entry-points"]["pytest11"] == {"zats": "zats.testing.plugin"}
    eps = importlib.metadata.entry_points(group="pytest11", name="zats")
    assert [ep.value for ep in eps] == ["zats.testing.plugin"]
