from __future__ import annotations

import libcst as cst

from cwlint.analysis.distributions import (
    STDLIB,
    candidates,
    declared_with_extras,
    mapped,
    provided,
    satisfied_by_name,
)
from cwlint.analysis.header_layout import dependencies_misplaced
from cwlint.context import dotted_name
from cwlint.rule import Invalid, Rule, Valid


def _write_with_sibling(path, sibling: str) -> None:
    """For an example: the workflow and an empty module beside it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        '# /// script\n# dependencies = ["codewords-client==0.3.4"]\n# ///\n'
        f"from {sibling[:-3]} import normalize_domain\n"
    )
    (path.parent / sibling).write_text("def normalize_domain(url: str) -> str:\n    return url\n")


def _is_type_checking(test: cst.BaseExpression) -> bool:
    name = dotted_name(test)
    return name in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


class UndeclaredDependency(Rule):
    """A third-party import whose distribution the header's `dependencies` does not declare.

    ## What it does
    Reports the first import of each third-party module that no declared distribution
    provides. Import names are mapped to distributions (`bs4` -> `beautifulsoup4`, `PIL` ->
    `pillow`, `yaml` -> `pyyaml`, `dateutil` -> `python-dateutil`, `sklearn` ->
    `scikit-learn`, `googleapiclient` -> `google-api-python-client`, `google.cloud.storage` ->
    `google-cloud-storage`, ...); other names must match a declared distribution's name.
    Counted as installed: the standard library, modules next to the file, and everything a
    declared distribution installs with it, the same way for every distribution: its
    dependency closure (`codewords-client` brings httpx, fastapi, pydantic, structlog, redis,
    `uvicorn[standard]` and theirs; `fastapi` brings `starlette` and `pydantic`; `pandas`
    brings `numpy`), and what declared extras add (`codewords-client[openai]`,
    `pydantic[email]`). The closures are generated data with their source
    (`rules/distributions/requires.toml`, from `uv pip compile` of each distribution by
    `scripts/generate_requirements.py`). A transitive import is counted as installed rather
    than warned about (deptry's DEP003): it is there whenever the declared one is. Imports under `try: ... except ImportError` and `if TYPE_CHECKING:`
    are optional and not reported.

    ## Why is this bad?
    Every run starts in a fresh sandbox where only the header's `dependencies` (and what
    they require) are installed: an undeclared import raises `ModuleNotFoundError` when the
    workflow starts, although it worked on the author's machine.

    ## Example
    ```python
    # /// script
    # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
    # ///
    from bs4 import BeautifulSoup
    ```

    ## Use instead
    ```python
    # /// script
    # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1", "beautifulsoup4==4.13.4"]
    # ///
    from bs4 import BeautifulSoup
    ```

    ## Fix safety
    No fix: the version to pin is a decision (CW405 asks for an exact pin), and an import
    name can belong to several distributions (`cv2`: `opencv-python` or
    `opencv-python-headless`).
    """

    code = "CW402"
    name = "undeclared-dependency"
    scope = "workflow"
    triggers = ("# /// script",)

    VALID = [
        Valid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = [
            #     "codewords-client==0.3.4",
            #     "beautifulsoup4==4.13.4",
            #     "pillow==11.3.0",
            #     "python-dateutil==2.9.0.post0",
            #     "google-api-python-client==2.179.0",
            #     "google-cloud-storage==3.3.0",
            #     "discord.py==2.6.3",
            #     "slack_sdk==3.36.0",
            # ]
            # ///
            import asyncio
            import json
            from dataclasses import dataclass

            import httpx
            import yaml
            from bs4 import BeautifulSoup
            from codewords_client import AsyncCodewordsClient
            from dateutil import parser as dateparser
            from fastapi import FastAPI
            from google.cloud import storage
            from google.oauth2 import service_account
            from googleapiclient.discovery import build
            from PIL import Image
            from pydantic import BaseModel
            from slack_sdk.web.async_client import AsyncWebClient
            from starlette.requests import Request
            import discord
            """
        ),
        # A module next to the workflow is first-party.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # ///
            from enrich_helpers import normalize_domain
            """,
            make=lambda path: _write_with_sibling(path, "enrich_helpers.py"),
        ),
        # Optional imports and type-only imports.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client==0.3.4"]
            # ///
            from typing import TYPE_CHECKING

            try:
                import orjson as json
            except ImportError:
                import json

            if TYPE_CHECKING:
                from openai import AsyncOpenAI
            """
        ),
        # fastapi brings starlette and pydantic, with or without codewords-client.
        Valid(
            """
            # /// script
            # dependencies = ["fastapi==0.116.1", "uvicorn==0.35.0"]
            # ///
            from pydantic import BaseModel
            from starlette.requests import Request
            """
        ),
        # What a declared distribution requires is installed with it, and so are its extras.
        Valid(
            """
            # /// script
            # dependencies = ["codewords-client[openai]==0.4.11", "pandas==2.3.2", "requests==2.32.4", "pydantic[email]==2.11.7"]
            # ///
            import email_validator
            import numpy as np
            import pandas as pd
            import urllib3
            from openai import AsyncOpenAI
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "fastapi==0.116.1"]
            # ///
            import os

            import yaml
            from bs4 import BeautifulSoup
            from codewords_client import AsyncCodewordsClient
            from fastapi import FastAPI
            from openai import AsyncOpenAI

            def parse(html: str) -> str:
                import lxml.html
                from bs4 import SoupStrainer
                return BeautifulSoup(html, "lxml").get_text()
            """,
            expected=(("CW402", 8, 6), ("CW402", 11, 6), ("CW402", 14, 12)),
            message="its distribution `beautifulsoup4`",
        ),
        # Without codewords-client, its dependencies are not installed either.
        Invalid(
            """
            # /// script
            # dependencies = ["requests==2.32.4"]
            # ///
            import httpx
            import requests
            from sklearn.cluster import KMeans
            from google.generativeai import GenerativeModel
            """,
            expected=(("CW402", 4, 8), ("CW402", 6, 6), ("CW402", 7, 6)),
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.imports: dict[str, tuple[str, cst.CSTNode]] = {}  # top-level name -> (module, node)
        self.client_imported = False

    def _optional(self) -> bool:
        if self.ctx.in_import_error_handler():
            return True
        return any(isinstance(n, cst.If) and _is_type_checking(n.test) for n in self.ctx.ancestors)

    def _record(self, module: str, node: cst.CSTNode) -> None:
        top = module.split(".")[0]
        if top == "codewords_client":
            self.client_imported = True
            return  # CW405 reports a client that is not declared
        if top in STDLIB or top in self.imports or self._optional():
            return
        self.imports[top] = (module, node)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            module = dotted_name(alias.name)
            if module:
                self._record(module, alias.name)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative or node.module is None:
            return
        module = dotted_name(node.module)
        if module:
            self._record(module, node.module)

    def leave_Module(self, node: cst.Module) -> None:
        header = self.ctx.header
        if header is None or header.end_line is None or header.error or dependencies_misplaced(header) or not self.imports:
            return
        declared = header.distribution_names() | declared_with_extras(header.dependencies)
        installed = provided(declared, "codewords-client" in declared or self.client_imported)
        for top, (module, where) in self.imports.items():
            wanted = candidates(module)
            if any(name in installed for name in wanted):
                continue
            if top in self.ctx.local_modules:  # asked only when an import is in doubt
                continue
            if top == "google" and not mapped(module):
                if any(name.startswith("google-") for name in installed):
                    continue
                self.report(
                    where, f"`{module}` is imported but no `google-*` distribution is declared in the header's `dependencies`"
                )
                continue
            if not mapped(module) and satisfied_by_name(module, installed):
                continue
            if mapped(module):
                what = f"its distribution `{wanted[0]}` is not in the header's `dependencies`"
            else:
                what = f"no declared distribution provides it (`{wanted[0]}`?)"
            self.report(
                where,
                f"`{module}` is imported but {what}: the sandbox installs only declared packages,"
                " so the import fails with ModuleNotFoundError",
            )
