"""cwlint: a linter for CodeWords workflow scripts."""

__version__ = "0.1.0"
