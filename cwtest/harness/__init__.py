"""cwtest's harness: each workflow in its own uv environment and sandboxed process, against the simulator.

``runner.Harness`` runs (``run``) or boots (``boot``) workflows; ``cli.run_main`` and
``cli.boot_main`` are ``cwtest run`` and ``cwtest boot``. ``bootstrap.py`` is the stdlib-only
script injected into the workflow's process. See ``docs/cwtest/harness.md``.
"""
