"""The compiled modules: Cython compiles the hot modules from their own `.py` source.

Everything else about the package is in pyproject.toml. Each extension is optional: without a C
compiler (or with ZATS_NO_COMPILE=1) the install still succeeds and zats runs those modules
uncompiled, as `zats-server --version` then says. The list of modules is zats.compiled.MODULES.
"""

import os
import runpy
import tomllib

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _extensions() -> list:
    if os.environ.get("ZATS_NO_COMPILE", "") not in ("", "0"):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    modules = runpy.run_path(os.path.join(package_dir["zats"], "compiled.py"))["MODULES"]
    extensions = []
    for name in modules:
        package, _, tail = name.rpartition(".")
        source = os.path.join(package_dir[package], tail + ".py")
        extensions.append(Extension(name, [source]))
    # annotation_typing off: Cython would otherwise enforce the annotations (a `memoryview`
    # parameter refusing bytes), which Python never does. The compiled modules must behave alike.
    built = cythonize(extensions, language_level=3, quiet=True,
                      compiler_directives={"binding": True, "annotation_typing": False})
    for ext in built:  # (set here: cythonize does not carry `optional` over)
        ext.optional = True  # a failed compile is a warning, and the module runs as Python
    return built


setup(ext_modules=_extensions())
