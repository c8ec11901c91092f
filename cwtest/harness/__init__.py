"""cwtest's harness: each workflow in its own uv environment and sandboxed process, against the simulator.

``runner.Harness`` runs (``run``) or boots (``boot``) workflows; ``cli.run_main`` and
``cli.boot_main`` are ``cwtest run`` and ``cwtest boot``. ``child/`` is the stdlib-only package
that runs in the workflow's process, and its protocol. See ``docs/cwtest/harness.md``.
"""
