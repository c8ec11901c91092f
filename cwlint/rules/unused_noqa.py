from __future__ import annotations

from cwlint.diagnostics import Applicability
from cwlint.rule import Invalid, Rule, Valid


class UnusedNoqa(Rule):
    """A `# noqa` directive whose CW codes suppress nothing.

    ## What it does
    Reports the cwlint codes of a `# noqa: ...` comment that matched no finding on its line,
    and codes cwlint does not know (`CW999`). Codes of other tools (`E501`, `F401`) are never
    reported, and neither is a bare `# noqa`, which cwlint ignores unless the configuration
    sets `bare-noqa = true`. Codes of rules that are switched off are not judged.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line: once the mistake it was
    written for is fixed, anything new there goes unreported.

    ## Example
    ```python
    resp = await client.run(service_id="firecrawl", inputs={"url": url})  # noqa: CW101
    ```

    ## Use instead
    ```python
    resp = await client.run(service_id="firecrawl", inputs={"url": url})
    ```

    ## Fix safety
    Safe: only the unused codes are removed; other tools' codes and any explanation after
    the directive stay, and the comment goes only when nothing is left in it.
    """

    code = "CW001"
    name = "unused-noqa"
    engine_rule = True
    fix_availability = Applicability.SAFE

    VALID = [
        Valid(
            """
            async def scrape(client, url):
                return await client.run(service_id="firecrawl", data={"url": url})  # noqa: CW101
            """
        ),
        Valid(
            """
            import os, sys  # noqa: E401
            x = 1  # noqa
            """
        ),
    ]
    INVALID = [
        Invalid(
            """
            async def scrape(client, url):
                return await client.run(service_id="firecrawl", inputs={"url": url})  # noqa: CW101
            """,
            expected=(("CW001", 2, 75),),
            fixed="""
            async def scrape(client, url):
                return await client.run(service_id="firecrawl", inputs={"url": url})
            """,
        ),
        # Other tools' codes stay; an unknown CW code is named.
        Invalid(
            """
            import os, sys  # noqa: E401, CW999
            """,
            expected=(("CW001", 1, 17),),
            message="unknown: CW999",
            fixed="""
            import os, sys  # noqa: E401
            """,
        ),
    ]
