from __future__ import annotations

import re

import libcst as cst

from cwlint.analysis.service_inputs import basis, is_firm, severity_for, weakest
from cwlint.context import service_call
from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid

_SEPARATORS = re.compile(r"[\s_\-.]+")
#: Catalog ids this short tolerate one edit only: at two, `reddit` would claim `redis` and
#: `credit`, `github` would claim `gitlab`, `hunter` would claim `counter`.
_SHORT = 7


def distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (a transposition is one edit), capped at ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


def nearest(service_id: str, ids: list[str]) -> list[str]:
    """The catalog ids ``service_id`` most plausibly misspells (several on a tie), else []."""
    lowered = service_id.strip().lower()
    squashed = _SEPARATORS.sub("", lowered)
    best: list[str] = []
    best_distance = 3
    for known in ids:
        limit = 1 if len(known) < _SHORT else 2
        d = min(distance(lowered, known, limit), distance(squashed, _SEPARATORS.sub("", known), limit))
        if d > limit or d > best_distance:
            continue
        if d < best_distance:
            best, best_distance = [], d
        best.append(known)
    return best


class UnknownService(Rule):
    """A literal `service_id` one or two typos away from a library service.

    ## What it does
    Reports a literal `service_id` (keyword or positional, in `run()` or `start_service()`)
    that is not a service of the catalog but within edit distance 2 of one (1 for ids of
    six letters or fewer), ignoring case and `_`/`-`: `redis_cordinator`, `fire_crawl`,
    `open_ai`, `OpenAI`. Other ids are users' own workflows and are left alone.

    ## Why is this bad?
    The runtime routes `/run/<service_id>/` by the exact id: a misspelt library service is
    a 404 on every call, which the client raises as `httpx.HTTPStatusError` and the
    workflow then returns to its caller as its own failure.

    ## Example
    ```python
    resp = await client.run(
        service_id="redis_cordinator",
        inputs={"operation": "get", "key": key},
    )
    ```

    ## Use instead
    ```python
    resp = await client.run(
        service_id="redis_coordinator",
        inputs={"operation": "get", "key": key},
    )
    ```

    ## Fix safety
    Unsafe: the id could be a workflow of the user's that happens to be spelt like a
    library service; the fix replaces it with the catalog id, keeping the quotes. No fix
    when two services are equally near, for an implicitly concatenated string, or when the
    service's own existence is not documented (then the finding is a warning).
    """

    code = "CW102"
    name = "unknown-service"
    #: A service call passes `service_id=` or is made on a client the file names.
    triggers = ("service_id", "CodewordsClient")
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            from codewords_client import AsyncCodewordsClient

            async def scrape(url: str) -> str:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="firecrawl", inputs={"url": url, "formats": ["markdown"]})
                    return resp.json()["data"]["markdown"]
            """
        ),
        # Users' own workflows, including short ids two edits from a short catalog id.
        Valid(
            """
            async def fan_out(client, lead: dict) -> None:
                await client.run(service_id="lead_scorer_1a2b3c4d", inputs={"lead": lead})
                await client.run(service_id="gitlab", inputs={"query": lead["company"]})
                await client.run(service_id="redis", inputs={"op": "ping"})
                await client.run(service_id="credit", inputs=lead)
            """
        ),
        # A dynamic id, and Semantic Kernel's `service_id=` (not a CodeWords call).
        Valid(
            """
            import os
            from semantic_kernel.connectors.ai.open_ai import OpenAIChatCompletion

            chat = OpenAIChatCompletion(service_id="open_ai", ai_model_id="gpt-4o")

            async def forward(client, payload: dict) -> None:
                await client.run(service_id=os.environ["WHATSAPP_SERVICE_ID"], inputs=payload)
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def cached(key: str) -> str | None:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="redis_cordinator", inputs={"operation": "get", "key": key})
                    return resp.json().get("value")
            """,
            expected=(("CW102", 5, 44),),
            message='did you mean "redis_coordinator"',
            fixed="""
            from codewords_client import AsyncCodewordsClient

            async def cached(key: str) -> str | None:
                async with AsyncCodewordsClient() as client:
                    resp = await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": key})
                    return resp.json().get("value")
            """,
            unsafe=True,
        ),
        # Positional form, single quotes kept; a separator and case do not hide the id.
        Invalid(
            """
            from codewords_client import AsyncCodewordsClient

            async def scrape(client: AsyncCodewordsClient, url):
                page = await client.run('fire_crawl', {'url': url})
                summary = await client.start_service("OpenAI", {"model": "gpt-4o", "prompt": page.text})
                return summary
            """,
            expected=(("CW102", 4, 29), ("CW102", 5, 42)),
            fixed="""
            from codewords_client import AsyncCodewordsClient

            async def scrape(client: AsyncCodewordsClient, url):
                page = await client.run('firecrawl', {'url': url})
                summary = await client.start_service("openai", {"model": "gpt-4o", "prompt": page.text})
                return summary
            """,
            unsafe=True,
        ),
        # Without --unsafe-fixes nothing changes.
        Invalid(
            """
            async def ask(client, prompt):
                return await client.run(service_id="antrhopic", inputs={"model": "claude-3-5-haiku-20241022", "prompt": prompt})
            """,
            expected=(("CW102", 2, 40),),
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        call = service_call(self.ctx, node)
        if call is None or call.service_id is None or call.service_id_node is None:
            return
        service_id = call.service_id
        catalog = self.ctx.catalog
        if service_id in catalog or not service_id.strip() or "/" in service_id or len(service_id) > 64:
            return
        candidates = nearest(service_id, catalog.ids)
        if not candidates:
            return
        services = [catalog.services[c] for c in candidates]
        fact = weakest(services)
        guess = " or ".join(f'"{c}"' for c in candidates)
        message = f'unknown service "{service_id}": did you mean {guess}?' + basis(fact.confidence, fact.source)
        fix = None
        literal = call.service_id_node
        if len(candidates) == 1 and is_firm(fact.confidence) and isinstance(literal, cst.SimpleString):
            quoted = literal.prefix + literal.quote + candidates[0] + literal.quote
            fix = self.make_fix(f'Replace with "{candidates[0]}"', [self.ctx.replace(literal, quoted)], Applicability.UNSAFE)
        self.report(literal, message, fix=fix, severity=severity_for(fact.confidence))
