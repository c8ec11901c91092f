"""Every rule, one module each. The registry is built by importing this package's modules."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from cwlint.rule import Rule


@functools.cache
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, sorted by code."""
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and value.__module__ == module.__name__:
                if value.code in found:
                    raise RuntimeError(f"duplicate rule code {value.code}: {found[value.code].__name__} and {value.__name__}")
                found[value.code] = value
    return tuple(sorted(found.values(), key=lambda rule: rule.code))


def rule_by_code(code: str) -> type[Rule] | None:
    code = code.upper()
    return next((rule for rule in all_rules() if rule.code == code or rule.name == code.lower()), None)
