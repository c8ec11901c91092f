"""The whole suite: ``tests/`` on ``sys.path`` (pytest's default ``prepend`` import mode does that for
this file's directory), so that every test directory imports ``needs``, the one helper that skips a
test whose system tool, sandbox layer or cgroup is missing (and fails it under ``CI=true``)."""
