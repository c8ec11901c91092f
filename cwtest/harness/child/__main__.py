"""The entry the parent execs: ``<env python> -I -B <this directory>/__main__.py CONFIG``.

Under ``-I`` this directory is not on ``sys.path``, and nothing of it may be importable by a name
a workflow could use: the package is loaded under the private name ``_cwtest_child`` (so its
relative imports work and no workflow module is shadowed), then ``main.main`` runs.

``__main__.py --confine SPEC -- COMMAND...`` is the launcher instead: apply a confinement spec,
then exec the command (``confine.launch``; ``cwtest.harness.sandbox.command`` uses it).
"""

import importlib
import importlib.util
import os
import sys

PACKAGE = "_cwtest_child"


def load(name):
    """A module of this package, imported under the private package name."""
    if PACKAGE not in sys.modules:
        here = os.path.dirname(os.path.abspath(__file__))
        spec = importlib.util.spec_from_file_location(PACKAGE, os.path.join(here, "__init__.py"),
                                                      submodule_search_locations=[here])
        if spec is None or spec.loader is None:
            raise ImportError("cwtest's child package has no loader at %s" % here)
        package = importlib.util.module_from_spec(spec)
        sys.modules[PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module("%s.%s" % (PACKAGE, name))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--confine"]:
        load("confine").launch(sys.argv[1:])
    else:
        load("main").main(sys.argv)
