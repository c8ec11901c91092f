from __future__ import annotations

import re

import libcst as cst

from cwlint import noqa
from cwlint.analysis.header_layout import declare_env_vars
from cwlint.context import dotted_name, string_value
from cwlint.diagnostics import Applicability, Diagnostic, Edit, Fix
from cwlint.edits import import_module
from cwlint.header import add_env_var
from cwlint.rule import Invalid, Rule, Valid
from cwlint.secrets import find_credentials, looks_like_password, secret_kind

_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_GETENV = frozenset({"os.getenv", "os.environ.get"})
_GENERIC = frozenset({"KEY", "TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY", "ACCESS_TOKEN", "AUTH_TOKEN", "SECRET_KEY"})

# Fake keys for the examples: the right shapes, obviously not real.
_OPENAI = "sk-proj-" + "A1b2C3d4E5f6G7h8" * 3
_CWK = "cwk-" + "0123456789abcdef" * 4
_SLACK = "xoxb-1234567890-" + "AbCdEfGhIjKlMnOpQrStUv"


class HardcodedSecret(Rule):
    """A credential written into the source.

    ## What it does
    Reports a string literal holding a credential in a known format wherever it stands
    (an assignment, a call argument, a dict value, an `os.getenv` default, inside a URL or
    an f-string). The formats are data (`rules/secrets/formats.toml`, 53 of them, each with
    its source, most from gitleaks' rule set): CodeWords `cwk-` keys; OpenAI, Anthropic,
    Perplexity, Hugging Face, Groq and Replicate keys; AWS, Google, Azure AD, DigitalOcean,
    Heroku, Databricks, Vault and other cloud credentials; Stripe, Square, Shopify and other
    payment keys; Slack, Telegram, Twilio, SendGrid, Brevo, Mailchimp tokens and Slack,
    Discord and Teams webhooks; GitHub, GitLab, npm, PyPI, Linear, Notion, Airtable, HubSpot,
    Atlassian tokens; JWTs, PEM private keys and URLs with a password.

    Also reports a literal bound to a secret-named target when it looks like a password or a
    random key: the names of the one list every secrets rule shares, in any case, as a
    variable, an attribute, a keyword argument or a dict key (`*_PASSWORD`, `*_PASS`,
    `*_PASSWD`, `*_PWD`, `*_PASSPHRASE`, `*_SECRET*`, `*_TOKEN`, `*_API_KEY`, `*_APIKEY`,
    `*_PRIVATE_KEY`, `*_SIGNING_KEY`, `*_KEY`, `*_CREDENTIALS`, `*_AUTH`; `password=`,
    `{"api_key": ...}`, `apiKey`). Hex strings count when the name says key, token, secret or
    password (the 32- and 40-character keys weather and data APIs issue); bound to another
    name they are digests. Empty strings, placeholders (`"your-api-key"`, `"sk-..."`),
    UUIDs, env var names, header names, field names, lookup keys (`CACHE_KEY`) and counts
    (`MAX_TOKENS`) are not secrets.

    ## Why is this bad?
    Workflows are shared, copied into templates and pasted into chats; a key in the source
    leaks with them. On CodeWords the runtime injects every secret the header declares, so
    no workflow needs a literal key: the CodeWords key itself also authenticates the OpenAI,
    Anthropic and Firecrawl SDKs through the runtime.

    ## Example
    ```python
    OPENAI_API_KEY = "sk-proj-..."  # a real key here
    client = AsyncOpenAI(api_key=OPENAI_API_KEY)
    ```

    ## Use instead
    ```python
    OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]  # declared in the header's env_vars
    client = AsyncOpenAI(api_key=OPENAI_API_KEY)
    ```

    ## Fix safety
    Unsafe: the literal becomes `os.environ["NAME"]` (an `os.getenv("NAME", "<key>")`
    becomes `os.environ["NAME"]`), `import os` is added, and NAME is declared in the
    header's `env_vars`; the workflow then fails at start-up until the secret is set, which
    changes behaviour. NAME is the target's own name when it is an env-var-style name, else
    the provider's usual variable (`OPENAI_API_KEY`). Every fix of a file carries the same
    header edit declaring the names of all the file's secrets, so one `--fix` fixes them all;
    a name is declared once however many secrets read it, and a secret suppressed with
    `# noqa: CW301` keeps its literal and gets no declaration. No fix when the secret is part
    of a larger string (a URL, a header value). The key must be rotated anyway: it has leaked.
    """

    code = "CW301"
    name = "hardcoded-secret"
    fix_availability = Applicability.UNSAFE

    VALID = [
        Valid(
            """
            import os

            OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]
            SLACK_TOKEN = os.getenv("SLACK_TOKEN")
            """
        ),
        # Placeholders, empty values, env var names, header and field names, digests, UUIDs.
        Valid(
            """
            API_KEY = ""
            OPENAI_API_KEY = "sk-..."
            STRIPE_SECRET_KEY = "your-stripe-secret-key"
            TOKEN_ENV = "SLACK_BOT_TOKEN"
            API_KEY_HEADER = "X-API-Key"
            token_type = "Bearer"
            password_field = "password"
            SECRET_KEY = "GITHUB_WEBHOOK_SECRET"
            CACHE_KEY = "website_snapshot"
            ETAG_KEY = "5d41402abc4b2a76b9719d911017c592"
            REQUEST_TOKEN = "3f2b8c1e-9d4a-4f6b-8e2a-1c5d7e9f0a3b"
            headers = {"Authorization": f"Bearer {os.environ['CODEWORDS_API_KEY']}"}
            """
        ),
        # Digests bound to names that do not say key/token/secret/password; lookup keys;
        # counts and cursors; names about a secret rather than the secret.
        Valid(
            """
            CONTENT_SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
            ETAG_KEY = "5d41402abc4b2a76b9719d911017c592"
            MAX_TOKENS = "4096"
            SECRET_NAME = "prod/openai-api-key"
            password_hint = "the name of your first pet"
            settings = {"api_key_header": "X-Api-Key", "tokenizer": "cl100k_base"}
            """
        ),
        # A redis key built from a secret-looking name is still just a key name.
        Valid(
            """
            async def remember(client, user_id: str) -> None:
                await client.run(service_id="redis_coordinator", inputs={"operation": "get", "key": f"session_token:{user_id}"})
            """
        ),
        # Secret-named constants holding the name of an env var, a header or a field: the
        # indirections real workflows use to look the secret up, never the secret itself.
        Valid(
            """
            import os

            import httpx

            HUNTER_API_KEY = "HUNTER_API_KEY"
            GOOGLE_CREDENTIALS = "GOOGLE_APPLICATION_CREDENTIALS"
            SLACK_SIGNATURE_KEY = "X-Slack-Signature"
            AUTH_TOKEN = "X-Auth-Token"
            STRIPE_SECRET = "Stripe-Signature"
            ACCESS_TOKEN_KEY = "access_token"
            PASSWORD_KEY = "password"
            NEXT_TOKEN = "NextToken"

            async def refresh(http: httpx.AsyncClient, refresh_token: str) -> str:
                resp = await http.post(
                    "https://oauth2.googleapis.com/token",
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_secret": os.environ["GOOGLE_CLIENT_SECRET"]},
                    headers={"api_key": "X-API-KEY"},
                )
                return resp.json()[ACCESS_TOKEN_KEY]

            def login_form(user: str, password_field: str = "pass", token_param: str = "csrf_token") -> dict:
                return {"username": user, "password": "new_password", "token": "reset_token"}
            """
        ),
    ]
    INVALID = [
        Invalid(
            f"""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "openai==1.99.9"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000"]
            # ///
            from openai import AsyncOpenAI

            OPENAI_API_KEY = "{_OPENAI}"
            client = AsyncOpenAI(api_key=OPENAI_API_KEY)
            """,
            expected=(("CW301", 9, 18),),
            unsafe=True,
            fixed="""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4", "openai==1.99.9"]
            # [tool.env-checker]
            # env_vars = ["PORT=8000", "OPENAI_API_KEY"]
            # ///
            from openai import AsyncOpenAI
            import os

            OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]
            client = AsyncOpenAI(api_key=OPENAI_API_KEY)
            """,
        ),
        # A getenv default and a keyword argument; the provider's usual variable names.
        Invalid(
            f"""
            import os

            from codewords_client import AsyncCodewordsClient
            from slack_sdk.web.async_client import AsyncWebClient

            client = AsyncCodewordsClient(api_key=os.getenv("CODEWORDS_API_KEY", "{_CWK}"))
            slack = AsyncWebClient(token="{_SLACK}")
            """,
            expected=(("CW301", 6, 70), ("CW301", 7, 30)),
            unsafe=True,
            fixed="""
            import os

            from codewords_client import AsyncCodewordsClient
            from slack_sdk.web.async_client import AsyncWebClient

            client = AsyncCodewordsClient(api_key=os.environ["CODEWORDS_API_KEY"])
            slack = AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"])
            """,
        ),
        # Several secrets: one header edit declares them all (a table is made if there is
        # none); the suppressed one keeps its literal and its name is not declared.
        Invalid(
            f"""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            # ///
            import os

            OPENAI_API_KEY = "{_OPENAI}"
            SLACK_TOKEN = "{_SLACK}"
            CODEWORDS_API_KEY = "{_CWK}"  # noqa: CW301 - revoked demo key
            """,
            expected=(("CW301", 7, 18), ("CW301", 8, 15)),
            unsafe=True,
            fixed=f"""
            # /// script
            # requires-python = "==3.11.*"
            # dependencies = ["codewords-client==0.3.4"]
            #
            # [tool.env-checker]
            # env_vars = ["OPENAI_API_KEY", "SLACK_TOKEN"]
            # ///
            import os

            OPENAI_API_KEY = os.environ["OPENAI_API_KEY"]
            SLACK_TOKEN = os.environ["SLACK_TOKEN"]
            CODEWORDS_API_KEY = "{_CWK}"  # noqa: CW301 - revoked demo key
            """,
        ),
        # The shared names: `*_PASS`, a hex key bound to `*_API_KEY`, a dict key, camelCase,
        # and a provider format from the data file (SendGrid).
        Invalid(
            """
            import httpx

            ROOT_PASS = "Adm1nPa55"
            WEATHER_API_KEY = "3b1f9a7c5e2d4b6a8c0e1f2a3b4c5d6e"
            GITHUB_API_KEY = "a94a8fe5ccb19ba61c4c0873d391e987982fbbd3"
            payload = {"user": "ops", "api_key": "Zq8Vw3Nr6Tx1Ly4Pm7Kd0Hs"}
            client = httpx.AsyncClient(headers={"X-Mail": "SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopq"})
            config = dict(apiKey="Rt5Ym2Qw9Xc4Vb7Nz1Lk8Jh3")
            """,
            expected=(("CW301", 3, 13), ("CW301", 4, 19), ("CW301", 5, 18), ("CW301", 6, 38), ("CW301", 7, 47), ("CW301", 8, 22)),
            unsafe=True,
            fixed="""
            import httpx
            import os

            ROOT_PASS = os.environ["ROOT_PASS"]
            WEATHER_API_KEY = os.environ["WEATHER_API_KEY"]
            GITHUB_API_KEY = os.environ["GITHUB_API_KEY"]
            payload = {"user": "ops", "api_key": os.environ["API_KEY"]}
            client = httpx.AsyncClient(headers={"X-Mail": os.environ["SENDGRID_API_KEY"]})
            config = dict(apiKey=os.environ["APIKEY"])
            """,
        ),
        # A password bound to a secret-named key, and one inside a URL (no fix there).
        Invalid(
            """
            DB = {"host": "db.internal", "user": "etl", "password": "Sup3rS3cret!"}
            DSN = "postgresql://etl:Sup3rS3cret!@db.internal:5432/leads"
            """,
            expected=(("CW301", 1, 57), ("CW301", 2, 7)),
            unsafe=True,
            fixed="""
            import os
            DB = {"host": "db.internal", "user": "etl", "password": os.environ["PASSWORD"]}
            DSN = "postgresql://etl:Sup3rS3cret!@db.internal:5432/leads"
            """,
        ),
    ]

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.reported: set[int] = set()
        #: Findings whose fix still lacks its header declaration: (diagnostic, env var name).
        self.undeclared: list[tuple[Diagnostic, str]] = []

    # -- literals in a known format, anywhere ---------------------------------------------
    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        value = string_value(node)
        if value:
            self._check_formats(node, value)

    def visit_FormattedStringText(self, node: cst.FormattedStringText) -> None:
        self._check_formats(node, node.value)

    def _check_formats(self, node: cst.CSTNode, value: str) -> None:
        matches = find_credentials(value)
        if not matches or id(node) in self.reported:
            return
        self.reported.add(id(node))
        match = matches[0]
        secret = match.value(value)
        whole = match.start == 0 and match.end == len(value) and isinstance(node, cst.SimpleString)
        name = self._target_name(node) or match.format.env_var
        fix = self._fix(node, name) if whole else None
        self.report(
            node,
            f"hard-coded {match.format.name}: read it from an env var declared in the header",
            fix=fix,
            secrets=tuple(m.value(value) for m in matches) or (secret,),
        )
        self._remember(name, fix)

    # -- password-like literals bound to secret-named targets ------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check_named(dotted_name(target.target), node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self._check_named(dotted_name(node.target), node.value)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._check_named(node.keyword.value, node.value)

    def visit_Param(self, node: cst.Param) -> None:
        if node.default is not None:
            self._check_named(node.name.value, node.default)

    def visit_DictElement(self, node: cst.DictElement) -> None:
        self._check_named(string_value(node.key), node.value)

    def _check_named(self, name: str | None, value_node: cst.BaseExpression) -> None:
        if name is None or not isinstance(value_node, cst.SimpleString) or id(value_node) in self.reported:
            return
        kind = secret_kind(name)
        value = string_value(value_node)
        if kind is None or value is None or find_credentials(value):
            return  # format matches are reported where the literal is visited
        if not looks_like_password(value, kind):
            return
        self.reported.add(id(value_node))
        env = name.rsplit(".", 1)[-1]
        env = env if _ENV_NAME.match(env) else env.upper()
        fix = self._fix(value_node, env)
        self.report(
            value_node,
            f"hard-coded {kind} in `{name}`: read it from an env var declared in the header",
            fix=fix,
            secrets=(value,),
        )
        self._remember(env, fix)

    # -- the fix ------------------------------------------------------------------------
    def _target_name(self, node: cst.CSTNode) -> str | None:
        """The env-var-style name the literal is bound to, if any."""
        parent = self.ctx.ancestors[-1] if self.ctx.ancestors else None
        name = None
        if isinstance(parent, cst.Assign) and parent.value is node and len(parent.targets) == 1:
            name = dotted_name(parent.targets[0].target)
        elif isinstance(parent, cst.AnnAssign) and parent.value is node:
            name = dotted_name(parent.target)
        elif isinstance(parent, cst.Arg) and parent.value is node and len(self.ctx.ancestors) >= 2:
            call = self.ctx.ancestors[-2]
            if isinstance(call, cst.Call) and self.ctx.imports.qualified(call.func) in _GETENV:
                first = string_value(call.args[0].value) if call.args else None
                return first
        if name is None:
            return None
        last = name.rsplit(".", 1)[-1]
        if last.upper() in _GENERIC:
            return None  # `KEY = "sk-..."`: the provider's variable says more
        return last if _ENV_NAME.match(last) and secret_kind(last) else None

    def _fix(self, node: cst.CSTNode, name: str):
        ctx = self.ctx
        target: cst.CSTNode = node
        parent = ctx.ancestors[-1] if ctx.ancestors else None
        if isinstance(parent, cst.Arg) and len(ctx.ancestors) >= 2:
            call = ctx.ancestors[-2]
            if isinstance(call, cst.Call) and ctx.imports.qualified(call.func) in _GETENV and len(call.args) == 2 and call.args[1] is parent:
                target = call  # os.getenv("X", "<secret>") -> os.environ["X"]
        os_name = ctx.imports.local_name("os") or "os"
        edits: list[Edit] = [ctx.replace(target, f'{os_name}.environ["{name}"]')]
        edits.extend(import_module(ctx, "os"))  # the same edit in every fix: applied once
        return self.make_fix(f'Read it from `os.environ["{name}"]`', edits, Applicability.UNSAFE)

    def _remember(self, name: str, fix: Fix | None) -> None:
        header = self.ctx.header
        if fix is not None and header is not None and not header.declares_env(name):
            self.undeclared.append((self.diagnostics[-1], name))

    def leave_Module(self, node: cst.Module) -> None:
        """Give every fix the header declaration: one edit, the same in every fix of the file,
        declaring each name the file's unsuppressed findings read (once each). The engine
        applies identical edits once, so all the file's secrets are fixed in one round."""
        header = self.ctx.header
        if not self.undeclared or header is None:
            return
        text = self.ctx.text
        suppressions = noqa.parse(text)  # as the engine will decide it
        bare = self.ctx.settings.bare_noqa
        names = list(dict.fromkeys(name for d, name in self.undeclared if not suppressions.hides(d, bare)))
        shared = declare_env_vars(text, header, names)
        for diagnostic, name in self.undeclared:
            declaration = shared if name in names and shared else add_env_var(text, header, name)
            fix = diagnostic.fix
            assert fix is not None
            diagnostic.fix = self.make_fix(fix.message, [*declaration, *fix.edits], fix.applicability)
