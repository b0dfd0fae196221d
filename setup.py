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
# Modules are translated and compiled this many at a time: the build is a good part of a CI run.
JOBS = os.cpu_count() or 1
# C libraries a compiled module links (its .pxd calls them): the file store's records use zlib's
# crc32. Without the library's headers that module alone fails to compile and runs as Python.
LIBRARIES = {"zats.broker.jetstream.records": ["z"]}


def _package_tree(package_dir: dict) -> str:
    """A directory that lays the packages out by their dotted names (zats/broker, ...), made of
    symlinks to their source directories: Cython finds a module's `.pxd` (its C declarations,
    next to the `.py`) by the module's dotted name, and this repository's directories are not
    named after their packages."""
    root = os.path.join(HERE, "build", "cython-packages")
    for name, source in package_dir.items():
        parts = name.split(".")
        parent = os.path.join(root, *parts[:-1])
        os.makedirs(parent, exist_ok=True)
        if len(parts) == 1:  # the top package: a real directory, holding its subpackages' links
            os.makedirs(os.path.join(root, name), exist_ok=True)
            link, target = os.path.join(root, name, "__init__.py"), os.path.join(source, "__init__.py")
        else:
            link, target = os.path.join(parent, parts[-1]), source
        target = os.path.join(HERE, target)
        if os.path.islink(link) and os.readlink(link) != target:
            os.remove(link)  # left by a checkout that has since moved
        if not os.path.islink(link):
            os.symlink(target, link)
    return root


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
    include = _package_tree(package_dir)
    for name in modules:
        # A subpackage without its own package-dir entry (zats.broker.jetstream) lies in
        # its parent's directory.
        package, tail = name, []
        while package not in package_dir:
            package, _, part = package.rpartition(".")
            tail.insert(0, part)
        source = os.path.join(package_dir[package], *tail) + ".py"
        extensions.append(Extension(name, [source], libraries=LIBRARIES.get(name, [])))
    # annotation_typing off: Cython would otherwise enforce the annotations (a `memoryview`
    # parameter refusing bytes), which Python never does. The compiled modules must behave alike.
    # nonecheck on: None where a .pxd declares a C struct or a bytes is an exception, as in
    # Python, never a read through a null pointer.
    built = cythonize(extensions, language_level=3, quiet=True, include_path=[include], nthreads=JOBS,
                      compiler_directives={"binding": True, "annotation_typing": False,
                                           "nonecheck": True})
    for ext in built:  # (set here: cythonize does not carry `optional` over)
        ext.optional = True  # a failed compile is a warning, and the module runs as Python
    return built


setup(ext_modules=_extensions(), options={"build_ext": {"parallel": JOBS}})
