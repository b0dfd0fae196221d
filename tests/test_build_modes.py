"""The two builds of the hot modules (zats.compiled): which one runs is said alike by `zats-server
--version`, the start-up log and /varz; ZATS_PURE=1 loads every one from its source, as does a
source edited after its compiled module was built; and when this run is compiled, the protocol,
subject-index, wire-conformance and differential suites run once more uncompiled, in a child
pytest, so both builds pass them."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import urllib.request
from importlib.machinery import EXTENSION_SUFFIXES, SourceFileLoader
from pathlib import Path

import pytest

import zats
from support.servers import free_port, start_server
from zats import compiled

ROOT = Path(__file__).resolve().parent.parent
PURE = {**os.environ, compiled.PURE_ENV: "1"}
# The suites both builds must pass: protocol parsers (split at every offset), the subject index,
# wire conformance and the differential fuzzers against nats-server.
BOTH_BUILDS = [
    "tests/test_parser.py", "tests/test_parser_client_fastpath.py",
    "tests/test_parser_server_fastpath.py", "tests/test_route_parser.py", "tests/test_sublist.py",
    "tests/test_wire_conformance.py", "tests/test_wire_errors.py",
    "tests/test_differential_fuzz.py", "tests/test_differential_fuzz_peers.py",
    "tests/test_jetstream_fuzz.py",
    "tests/test_build_modes.py::test_running_build_matches_files_and_environment",
]


def _run(args: list[str], env: dict) -> str:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True,
                          timeout=60, check=True).stdout


def test_running_build_matches_files_and_environment():
    """A module runs compiled exactly when it has a compiled file no older than its source and
    ZATS_PURE is not set."""
    pure = compiled.pure()
    expected = []
    for name in compiled.MODULES:
        directory = Path(importlib.import_module(name).__file__).parent
        tail = name.rpartition(".")[2]
        source = directory / f"{tail}.py"
        built = [directory / (tail + s) for s in EXTENSION_SUFFIXES if (directory / (tail + s)).exists()]
        if built and not pure and source.stat().st_mtime <= built[0].stat().st_mtime + compiled.STALE_AFTER_S:
            expected.append(name)
    assert compiled.compiled_modules() == expected


def test_pure_environment_loads_every_hot_module_from_source():
    out = _run(["-c", "import importlib, zats.compiled as c; print([importlib.import_module(m)"
                      ".__file__ for m in c.MODULES]); print(c.mode())"], PURE)
    files, mode = out.splitlines()
    assert all(f.endswith(".py") for f in eval(files))
    assert mode == "uncompiled (ZATS_PURE=1)"


def test_version_names_the_build():
    for env, mode in ((dict(os.environ), compiled.mode()), (PURE, "uncompiled (ZATS_PURE=1)")):
        line = _run(["-m", "zats.broker", "--version"], env)
        assert line == f"zats-server: v{zats.__version__} (nats-server protocol 2.10.0), {mode}\n"


def test_start_log_and_varz_name_the_build(monkeypatch):
    monkeypatch.setenv(compiled.PURE_ENV, "1")  # the server process inherits it
    srv = start_server("zats", http_port=free_port())
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/varz", timeout=5) as resp:
            varz = json.load(resp)
    finally:
        srv.stop()
    assert varz["zats_build"] == "uncompiled (ZATS_PURE=1)"
    assert "Build:    uncompiled (ZATS_PURE=1)" in srv.stderr_text()


def test_a_source_newer_than_its_compiled_module_wins(tmp_path, monkeypatch):
    """The finder, on a directory of its own: an older compiled file gives way to the source; a
    newer one is left to the usual import; ZATS_PURE takes the source whatever the times."""
    monkeypatch.delenv(compiled.PURE_ENV, raising=False)
    source = tmp_path / "parser.py"
    source.write_text("X = 1\n")
    built = tmp_path / ("parser" + EXTENSION_SUFFIXES[0])
    built.write_bytes(b"")
    finder = compiled.SourceFirst()
    os.utime(built, (1_000_000, 1_000_000))
    os.utime(source, (1_000_010, 1_000_010))
    spec = finder.find_spec("zats.protocol.parser", [str(tmp_path)])
    assert isinstance(spec.loader, SourceFileLoader) and spec.origin == str(source)
    os.utime(source, (1_000_001, 1_000_001))  # within the unpacking margin: the compiled one
    assert finder.find_spec("zats.protocol.parser", [str(tmp_path)]) is None
    monkeypatch.setenv(compiled.PURE_ENV, "1")
    assert finder.find_spec("zats.protocol.parser", [str(tmp_path)]).origin == str(source)
    assert finder.find_spec("zats.protocol.frames", [str(tmp_path)]) is None  # not a hot module


@pytest.mark.timeout(900)
def test_suites_pass_uncompiled_too():
    if compiled.mode() != "compiled":
        pytest.skip(f"this run is {compiled.mode()}: the whole suite runs uncompiled already")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-n", "0", *BOTH_BUILDS], cwd=ROOT, env=PURE, capture_output=True,
                          text=True, timeout=880)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]


def test_none_where_a_struct_is_declared_raises_as_in_python():
    """The compiled build reads C structs through typed names (the .pxd files); None there is
    an exception, as it is uncompiled, never a read through a null pointer."""
    from zats.broker.delivery import deliver
    from zats.broker.sublist import SublistResult

    with pytest.raises(AttributeError):
        deliver(None, None, b"a", None, b"")
    with pytest.raises((AttributeError, TypeError)):
        deliver(None, SublistResult((object(),), ()), b"a", None, b"")


def _fields(cls) -> set[str]:
    """The instance fields a class declares itself: its slots, or compiled, its C struct's."""
    return {name for name, value in vars(cls).items()
            if type(value).__name__ in ("member_descriptor", "getset_descriptor")} - {"__weakref__"}


def test_no_connection_kind_hides_a_field_the_read_path_reads_as_c():
    """Compiled, the read path and delivery read Endpoint's and WireState's fields from the C
    struct. A class attribute of the same name on a connection kind would be seen by Python code
    alone (the compiled read path would not see it): a kind sets them per instance."""
    from zats.broker.endpoint import Endpoint, WireState

    for module in ("connection", "internal", "leafnode", "route"):  # every kind defined
        importlib.import_module(f"zats.broker.{module}")

    endpoint, wire = _fields(Endpoint), _fields(WireState)
    assert {"closed", "out"} <= endpoint and {"rbuf", "room_as_arrives", "upgrading", "held"} <= wire
    names = set()
    for root, struct in ((WireState, endpoint | wire), (Endpoint, endpoint)):
        todo = list(root.__subclasses__())
        while todo:  # neither a class attribute nor a slot of its own by a field's name
            kind = todo.pop()
            names.add(kind.__name__)
            todo.extend(kind.__subclasses__())
            assert not struct & set(vars(kind)), (kind, struct & set(vars(kind)))
    assert {"ClientConnection", "RouteConnection", "LeafConnection", "InternalClient"} <= names
