"""CW207 (undefined-name) on the scoping rules one at a time, its messages and its fix.

The rule's own VALID/INVALID examples (tests/test_rules.py) show the everyday cases; here each
subtlety of Python's scoping gets its own small case, in both directions where both exist,
and the differential test against pyflakes lives in tests/test_undefined_name_pyflakes.py.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from cwlint.config import Settings
from cwlint.engine import fix_source, lint_source
from cwlint.source import SourceFile

SETTINGS = Settings(select=["CW207"])
_NAME = re.compile(r"`([^`]+)`")


def findings(code: str, path: str = "workflow.py") -> list[tuple[str, int, int]]:
    """(name, line, column) of every CW207 finding."""
    source = SourceFile(path, textwrap.dedent(code).lstrip("\n"))
    out = []
    for diagnostic in lint_source(source, SETTINGS):
        assert diagnostic.code == "CW207"
        match = _NAME.search(diagnostic.message)
        assert match is not None
        out.append((match.group(1), diagnostic.start.line, diagnostic.start.column))
    return out


def messages(code: str, path: str = "workflow.py") -> list[str]:
    return [d.message for d in lint_source(SourceFile(path, textwrap.dedent(code).lstrip("\n")), SETTINGS)]


# Each case: source, and the (name, line, column) CW207 must report, exactly.
CASES = {
    "class body invisible from a method": (
        """
        class A:
            limit = 3
            def f(self):
                return limit
        """,
        [("limit", 4, 16)],
    ),
    "class body visible to defaults and decorators of its methods": (
        """
        class A:
            limit = 3
            check = staticmethod
            @check
            def f(n=limit):
                return n
        """,
        [],
    ),
    "class body visible to a nested class's bases only through the module": (
        """
        class Outer:
            Base = object
            class Inner(Base):
                x = Base
        """,
        [("Base", 4, 13)],
    ),
    "class in a function sees the function's locals": (
        """
        def make():
            size = 3
            class Box:
                width = size
                def area(self):
                    return size * size
            return Box
        """,
        [],
    ),
    "comprehension variable does not leak": (
        """
        squares = [n * n for n in range(3)]
        print(n)
        """,
        [("n", 2, 7)],
    ),
    "comprehension in a class body sees the class in its first iterable only": (
        """
        class A:
            xs = [1, 2]
            ok = [x for x in xs]
            bad = [x for x in range(3) if x in xs]
        """,
        [("xs", 4, 40)],
    ),
    "walrus in a comprehension binds in the function": (
        """
        def first_long(words):
            if any(len(hit := w) > 3 for w in words):
                return hit
        """,
        [],
    ),
    "global declared in one function, read in another": (
        """
        def setup():
            global CLIENT
            CLIENT = object()

        def use():
            return CLIENT
        """,
        [],
    ),
    "nonlocal": (
        """
        def counter():
            n = 0
            def bump():
                nonlocal n
                n += 1
                return n
            return bump
        """,
        [],
    ),
    "a bare annotation that a nested function's nonlocal assigns": (
        """
        async def start(nursery):
            handle: object
            async def run():
                nonlocal handle
                handle = object()
            await nursery.start(run)
            return handle
        """,
        [],
    ),
    "augmented assignment without global": (
        """
        total = 0
        def add(x):
            total += x
        """,
        [("total", 3, 5)],
    ),
    "augmented assignment after a local value": (
        """
        def add(xs):
            total = 0
            for x in xs:
                total += x
            return total
        """,
        [],
    ),
    "augmented assignment in a class body reads the global": (
        """
        count = 0
        class A:
            count += 1
        """,
        [],
    ),
    "bare annotation does not bind": (
        """
        def f():
            x: int
            return x
        """,
        [("x", 3, 12)],
    ),
    "del of a name never bound": (
        """
        def f():
            del cache
        """,
        [("cache", 2, 9)],
    ),
    "del of a bound name, and del in its handler": (
        """
        def f(data):
            tmp = data
            del tmp
            try:
                pass
            except ValueError as err:
                del err
        """,
        [],
    ),
    "bound only conditionally is bound": (
        """
        import sys
        if sys.platform == "win32":
            def opener(path):
                return path
        else:
            opener = None

        def run():
            return opener("x")
        """,
        [],
    ),
    "function defined before the module-level binding it uses": (
        """
        def handler():
            return SETTINGS["key"]

        SETTINGS = {"key": 1}
        """,
        [],
    ),
    "module dunders": (
        """
        print(__file__, __name__, __doc__, __spec__, __loader__, __package__, __builtins__, __cached__, __debug__)
        """,
        [],
    ),
    "__path__ outside a package": (
        """
        print(__path__)
        """,
        [("__path__", 1, 7)],
    ),
    "class-body magic": (
        """
        class A:
            where = (__module__, __qualname__)
            def f(self):
                return __class__
        """,
        [],
    ),
    "__class__ in a class body itself": (
        """
        class A:
            me = __class__
        """,
        [("__class__", 2, 10)],
    ),
    "guarded by except NameError, and probed for": (
        """
        def in_notebook():
            try:
                shell = get_shell
            except NameError:
                return False
            return get_shell() is not None

        try:
            text_type = unicode
        except (ImportError, NameError):
            text_type = str
        """,
        [],
    ),
    "except Exception is no guard": (
        """
        def f():
            try:
                return helper()
            except Exception:
                return None
        """,
        [("helper", 3, 16)],
    ),
    "a guard does not reach into a function defined in its body": (
        """
        try:
            def f():
                return missing
        except NameError:
            pass
        """,
        [("missing", 3, 16)],
    ),
    "except ... as e read after the handler": (
        """
        def f():
            try:
                return 1
            except Exception as e:
                pass
            return str(e)
        """,
        [("e", 6, 16)],
    ),
    "except ... as e kept in another name, or read in a closure": (
        """
        def f():
            error = None
            try:
                return 1
            except Exception as e:
                error = e
                def show():
                    return str(e)
                show()
            return error
        """,
        [],
    ),
    "future annotations and quoted forward references": (
        """
        from __future__ import annotations

        def make() -> Node:
            return Node()

        def link(a: "Node", b: "list[Node] | None" = None) -> "Node":
            return a

        class Node:
            parent: Node | None = None
        """,
        [],
    ),
    "an undefined name inside a quoted annotation": (
        """
        def load(path: "Pathh") -> str:
            return str(path)
        """,
        [("Pathh", 1, 16)],
    ),
    "Literal and Annotated strings are not types": (
        """
        from typing import Annotated, Literal

        Mode = Literal["fast", "slow"]
        def run(mode: Literal["fast", "slow"], n: Annotated[int, "positive count"]) -> "Literal['ok']":
            return "ok"
        """,
        [],
    ),
    "TYPE_CHECKING imports": (
        """
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from httpx import AsyncClient

        async def get(client: "AsyncClient") -> None:
            pass
        """,
        [],
    ),
    "star import: nothing reported": (
        """
        from helpers import *

        def main():
            return fetch(URL)
        """,
        [],
    ),
    "writes through globals(): only a missing stdlib module is reported": (
        """
        for name in ("A", "B"):
            globals()[name] = name

        def f():
            return A + B + sys.platform
        """,
        [("sys", 5, 20)],
    ),
    "globals() only read does not hide anything": (
        """
        if "config" in globals():
            print(globals()["config"], globals().get("other"))
        print(config)
        """,
        [("config", 3, 7)],
    ),
    "lambda parameters, lambda defaults from the enclosing scope": (
        """
        size = 3
        scale = lambda x, factor=size: x * factor
        broken = lambda x: x * factr
        """,
        [("factr", 3, 24)],
    ),
    "match captures": (
        """
        def describe(event):
            match event:
                case {"type": "message", "text": text, **rest}:
                    return text, rest
                case [first, *others]:
                    return first, others
                case Point(x=0, y=yy) as whole:
                    return yy, whole
        """,
        [("Point", 7, 14)],
    ),
    "import forms bind their names": (
        """
        import os.path
        import json as jsonlib
        from collections import OrderedDict as OD, deque
        from . import sibling

        print(os.path.sep, jsonlib, OD, deque, sibling)
        """,
        [],
    ),
    "every read, in every scope (as pyflakes and ruff)": (
        """
        def a():
            os.getcwd()
            os.getcwd()

        def b():
            return os.sep
        """,
        [("os", 2, 5), ("os", 3, 5), ("os", 6, 12)],
    ),
    "every read of a weak local, a handler name only outside its handler": (
        """
        def a(n):
            total += n
            return total

        def b():
            try:
                pass
            except Exception as e:
                print(e, e)
            print(e)
            return e
        """,
        [("total", 2, 5), ("total", 3, 12), ("e", 10, 11)],
    ),
    "__all__ entries": (
        """
        __all__ = ["fetch", "parse"] + ["render"]
        __all__ += ("extra",)

        def fetch():
            pass

        def render():
            pass
        """,
        [("parse", 1, 21), ("extra", 2, 13)],
    ),
    "__all__ with a module __getattr__": (
        """
        __all__ = ["lazy_thing"]

        def __getattr__(name):
            raise AttributeError(name)
        """,
        [],
    ),
    "exec at module level": (
        """
        exec("def generated(): pass")
        generated()
        """,
        [],
    ),
    "Enum._convert_ and global_enum fill the module": (
        """
        import enum
        Color = enum.IntEnum._convert_("Color", __name__, lambda n: n.startswith("C_"))

        def is_red(c):
            return c == C_RED
        """,
        [],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_scoping(case: str) -> None:
    code, expected = CASES[case]
    assert findings(code) == expected


def test_path_is_bound_in_a_package_init() -> None:
    assert findings("print(__path__)\n", path="pkg/__init__.py") == []


def test_all_is_not_checked_in_a_package_init() -> None:
    assert findings('__all__ = ["submodule"]\n', path="pkg/__init__.py") == []


def test_messages_explain() -> None:
    [message] = messages(
        """
        def main():
            import os
            return os.getcwd()

        def other():
            return os.sep
        """
    )
    assert message == "undefined name `os`: `os` is imported only inside `main()`"
    [message] = messages(
        """
        class Client:
            base = "https://x"
            def url(self):
                return base
        """
    )
    assert "use `self.base` or `Client.base`" in message
    [message] = messages(
        """
        def summarise_text(t):
            return t
        print(summarize_text("x"))
        """
    )
    assert message.endswith("did you mean `summarise_text`?")
    [message] = messages(
        """
        def f():
            try:
                pass
            except ValueError as err:
                pass
            raise RuntimeError("failed") from err
        """
    )
    assert "Python unbinds it when the handler ends" in message


def _fixed(code: str) -> str:
    source = SourceFile("workflow.py", textwrap.dedent(code).lstrip("\n"))
    return fix_source(source, SETTINGS, unsafe=True).text


def test_fix_needs_unsafe_fixes() -> None:
    code = "def f():\n    return json.dumps({})\n"
    assert fix_source(SourceFile("workflow.py", code), SETTINGS, unsafe=False).text == code
    assert _fixed(code) == "import json\ndef f():\n    return json.dumps({})\n"


def test_fix_adds_each_import_once() -> None:
    code = """
    \"\"\"Doc.\"\"\"
    import asyncio

    async def a(x: Optional[str]) -> None:
        await asyncio.sleep(float(os.environ["DELAY"]))

    def b() -> Optional[str]:
        return os.getcwd()
    """
    assert _fixed(code) == textwrap.dedent(
        """
        \"\"\"Doc.\"\"\"
        import asyncio
        from typing import Optional
        import os

        async def a(x: Optional[str]) -> None:
            await asyncio.sleep(float(os.environ["DELAY"]))

        def b() -> Optional[str]:
            return os.getcwd()
        """
    ).lstrip("\n")


@pytest.mark.parametrize(
    ("use", "expected_import"),
    [
        ("datetime.now()", "from datetime import datetime"),
        ("datetime.timedelta(days=1)", "import datetime"),
        ("Path('x')", "from pathlib import Path"),
    ],
)
def test_fix_picks_the_import_from_the_use(use: str, expected_import: str) -> None:
    assert _fixed(f"def f():\n    return {use}\n").splitlines()[0] == expected_import


@pytest.mark.parametrize(
    "code",
    [
        # Used as a value, not as a module: a forgotten variable as likely as a missing import.
        "def f(resp):\n    return json\n",
        # Imported in another function: the fix would have to guess where.
        "def a():\n    import os\n    return os\n\ndef b():\n    return os.sep\n",
        # A third-party name from a package the file never imports.
        "def f():\n    raise HTTPException(404)\n",
        # Not a well-known name.
        "def f():\n    return fetch_page()\n",
    ],
)
def test_no_fix(code: str) -> None:
    [diagnostic] = lint_source(SourceFile("workflow.py", code), SETTINGS)
    assert diagnostic.fix is None
