"""Which distribution provides an import, and what a declared distribution brings along (CW402).

Data, with where each fact comes from. Distribution names are normalised (PEP 503: lower case,
runs of ``-_.`` as one ``-``), as :func:`cwlint.header.normalize_distribution` does.
"""

from __future__ import annotations

import re
import sys

from cwlint.header import normalize_distribution

#: Import names whose distribution has another name. The first entry is the one a fix or a
#: message suggests; any entry satisfies the import. Dotted keys match a module and its
#: submodules (the longest key wins), for namespace packages such as ``google``.
IMPORT_TO_DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    # scraping and documents
    "bs4": ("beautifulsoup4", "bs4"),  # bs4 on PyPI is a shim that depends on beautifulsoup4
    "PIL": ("pillow", "pillow-simd"),
    "yaml": ("pyyaml",),
    "dateutil": ("python-dateutil",),
    "dotenv": ("python-dotenv",),
    "docx": ("python-docx",),
    "pptx": ("python-pptx",),
    "fitz": ("pymupdf",),
    "pymupdf": ("pymupdf",),
    "PyPDF2": ("pypdf2",),
    "magic": ("python-magic",),
    "readability": ("readability-lxml",),
    "newspaper": ("newspaper3k", "newspaper4k"),
    "fpdf": ("fpdf2", "fpdf"),
    "markdown": ("markdown",),
    "html2text": ("html2text",),
    "multipart": ("python-multipart",),
    "slugify": ("python-slugify",),
    "unidecode": ("unidecode",),
    "Levenshtein": ("levenshtein", "python-levenshtein"),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"),
    "skimage": ("scikit-image",),
    "sklearn": ("scikit-learn",),
    "Bio": ("biopython",),
    "attr": ("attrs",),
    "jwt": ("pyjwt",),
    "jose": ("python-jose",),
    "Crypto": ("pycryptodome", "pycrypto"),
    "Cryptodome": ("pycryptodomex",),
    "OpenSSL": ("pyopenssl",),
    "nacl": ("pynacl",),
    "dns": ("dnspython",),
    "whois": ("python-whois",),
    "websocket": ("websocket-client",),
    "socketio": ("python-socketio",),
    "engineio": ("python-engineio",),
    "serial": ("pyserial",),
    "zmq": ("pyzmq",),
    "kafka": ("kafka-python",),
    "git": ("gitpython",),
    "ruamel": ("ruamel-yaml",),
    "psycopg2": ("psycopg2", "psycopg2-binary"),
    "MySQLdb": ("mysqlclient",),
    "pymysql": ("pymysql",),
    "bson": ("pymongo",),
    "gridfs": ("pymongo",),
    "sqlalchemy": ("sqlalchemy",),
    "dateparser": ("dateparser",),
    "email_validator": ("email-validator",),
    "pkg_resources": ("setuptools",),
    "sentry_sdk": ("sentry-sdk",),
    "faiss": ("faiss-cpu", "faiss-gpu"),
    "pinecone": ("pinecone", "pinecone-client"),
    "weaviate": ("weaviate-client",),
    "qdrant_client": ("qdrant-client",),
    "whisper": ("openai-whisper",),
    "ffmpeg": ("ffmpeg-python",),
    "yt_dlp": ("yt-dlp",),
    "telegram": ("python-telegram-bot",),
    "discord": ("discord-py", "py-cord"),
    "github": ("pygithub",),
    "gitlab": ("python-gitlab",),
    "jira": ("jira",),
    "atlassian": ("atlassian-python-api",),
    "hubspot": ("hubspot-api-client",),
    "notion_client": ("notion-client",),
    "trello": ("py-trello",),
    "shopify": ("shopifyapi",),
    "facebook_business": ("facebook-business",),
    "linkedin_api": ("linkedin-api",),
    "serpapi": ("google-search-results", "serpapi"),
    "tavily": ("tavily-python",),
    "exa_py": ("exa-py",),
    "duckduckgo_search": ("duckduckgo-search",),
    "apify_client": ("apify-client",),
    "fake_useragent": ("fake-useragent",),
    "youtube_transcript_api": ("youtube-transcript-api",),
    "deep_translator": ("deep-translator",),
    "vaderSentiment": ("vadersentiment",),
    "mailchimp_marketing": ("mailchimp-marketing",),
    "mailchimp_transactional": ("mailchimp-transactional",),
    "sendgrid": ("sendgrid",),
    "googlemaps": ("googlemaps",),
    # AI SDKs (the codewords-client extras name these distributions; C411 METADATA)
    "firecrawl": ("firecrawl-py", "firecrawl"),
    "perplexity": ("perplexityai",),
    "linkup": ("linkup-sdk",),
    "agents": ("openai-agents",),
    "deepgram": ("deepgram-sdk",),
    "mistralai": ("mistralai",),
    # Google's namespace packages
    "googleapiclient": ("google-api-python-client",),
    "apiclient": ("google-api-python-client",),
    "google_auth_oauthlib": ("google-auth-oauthlib",),
    "google_auth_httplib2": ("google-auth-httplib2",),
    "oauth2client": ("oauth2client",),
    "google.auth": ("google-auth",),
    "google.oauth2": ("google-auth",),
    "google.genai": ("google-genai",),
    "google.generativeai": ("google-generativeai",),
    "google.ai.generativelanguage": ("google-ai-generativelanguage",),
    "google.api_core": ("google-api-core",),
    "google.protobuf": ("protobuf",),
    "google.cloud.bigquery": ("google-cloud-bigquery",),
    "google.cloud.storage": ("google-cloud-storage",),
    "google.cloud.firestore": ("google-cloud-firestore",),
    "google.adk": ("google-adk",),
    "firebase_admin": ("firebase-admin",),
}

#: Always-installed requirements of ``codewords-client`` (0.3.4 and 0.4.11 alike), counted as
#: provided whenever the workflow depends on the client (or imports it: CW405 then asks for
#: the declaration). Extras (openai, anthropic, firecrawl, ...) are not installed by default.
#: Sources: ``pip download --no-deps codewords-client==0.3.4`` and ``==0.4.11``, METADATA
#: Requires-Dist; then the METADATA of fastapi 0.116.1, uvicorn 0.35.0, pydantic 2.11.7,
#: structlog 25.4.0, starlette 0.47.2, watchfiles 1.3.0 (the versions the docs pin, or the
#: newest) and of the installed httpx 0.28.1, httpcore 1.0.9, anyio 4.x, redis.
CLIENT_PROVIDES: dict[str, str] = {
    "httpx": "codewords-client: httpx>=0.25.0",
    "fastapi": "codewords-client: fastapi>=0.100.0",
    "structlog": "codewords-client: structlog>=23.0.0",
    "pydantic": "codewords-client: pydantic>=2.0.0",
    "uvicorn": "codewords-client: uvicorn[standard]>=0.20.0",
    "redis": "codewords-client: redis>=5.0.0",
    "anyio": "httpx: anyio; starlette: anyio; watchfiles: anyio",
    "certifi": "httpx: certifi; httpcore: certifi",
    "httpcore": "httpx: httpcore==1.*",
    "idna": "httpx: idna; anyio: idna",
    "h11": "httpcore: h11; uvicorn: h11",
    "starlette": "fastapi: starlette",
    "typing-extensions": "fastapi: typing-extensions; pydantic: typing-extensions",
    "pydantic-core": "pydantic: pydantic-core",
    "annotated-types": "pydantic: annotated-types",
    "typing-inspection": "pydantic: typing-inspection",
    "click": "uvicorn: click",
    "httptools": "uvicorn[standard]: httptools",
    "python-dotenv": "uvicorn[standard]: python-dotenv",
    "pyyaml": "uvicorn[standard]: pyyaml",
    "uvloop": "uvicorn[standard]: uvloop (not on Windows/PyPy; the sandbox is Linux CPython)",
    "watchfiles": "uvicorn[standard]: watchfiles",
    "websockets": "uvicorn[standard]: websockets",
}

#: Hard requirements of common distributions, counted as provided when the distribution is
#: declared: the dependency is installed whatever version is pinned. Only requirements present
#: in the current release and stable across recent ones are listed. Source: METADATA
#: Requires-Dist (no extras, no markers that exclude Linux CPython 3.11) of the wheels fetched
#: with ``pip download --no-deps`` (requests 2.34, pandas 2.3, openai, anthropic,
#: google-api-python-client 2.202, firecrawl-py 4.55, slack-bolt 1.30, gspread 6.2).
BRINGS: dict[str, tuple[str, ...]] = {
    "requests": ("charset-normalizer", "idna", "urllib3", "certifi"),
    "pandas": ("numpy", "python-dateutil", "pytz", "tzdata"),
    "openai": ("anyio", "jiter", "pydantic", "sniffio", "typing-extensions"),
    "anthropic": ("anyio", "docstring-parser", "jiter", "pydantic", "sniffio", "typing-extensions"),
    "google-api-python-client": ("httplib2", "google-auth", "google-auth-httplib2", "google-api-core", "uritemplate"),
    "firecrawl-py": ("requests", "httpx", "certifi", "python-dotenv", "websockets", "nest-asyncio", "pydantic", "aiohttp"),
    "slack-bolt": ("slack-sdk",),
    "gspread": ("google-auth", "google-auth-oauthlib"),
}

#: What an extra installs, for the extras workflows use. Source: METADATA Requires-Dist with
#: ``extra == ...`` of codewords-client 0.3.4 and 0.4.11, fastapi 0.116.1, pydantic 2.11.7,
#: and of the installed httpx 0.28.1.
EXTRAS: dict[tuple[str, str], tuple[str, ...]] = {
    ("codewords-client", "openai"): ("openai",),
    ("codewords-client", "anthropic"): ("anthropic",),
    ("codewords-client", "firecrawl"): ("firecrawl",),
    ("codewords-client", "perplexityai"): ("perplexityai",),
    ("codewords-client", "composio"): ("composio",),
    ("codewords-client", "replicate"): ("replicate",),
    ("codewords-client", "linkup"): ("linkup-sdk",),
    ("codewords-client", "agent"): ("openai-agents", "litellm"),
    ("codewords-client", "all"): (
        "openai", "anthropic", "firecrawl", "perplexityai", "composio", "replicate", "linkup-sdk",
        "openai-agents", "litellm",
    ),
    ("pydantic", "email"): ("email-validator",),
    ("fastapi", "standard"): ("fastapi-cli", "httpx", "jinja2", "python-multipart", "email-validator", "uvicorn"),
    ("httpx", "http2"): ("h2",),
    ("httpx", "brotli"): ("brotli",),
    ("httpx", "socks"): ("socksio",),
}

_EXTRAS = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*\[(?P<extras>[^\]]*)\]")


def declared_with_extras(dependencies: list[str]) -> set[str]:
    """Distributions the extras of the declared requirements add (normalised)."""
    out: set[str] = set()
    for requirement in dependencies:
        match = _EXTRAS.match(requirement)
        if match is None:
            continue
        name = normalize_distribution(match.group("name"))
        for extra in match.group("extras").split(","):
            out.update(EXTRAS.get((name, extra.strip().lower()), ()))
    return out


STDLIB: frozenset[str] = frozenset(sys.stdlib_module_names) | {"__future__"}


def candidates(module: str) -> tuple[str, ...]:
    """Distributions (normalised) any of which provides ``module`` (a dotted import path)."""
    parts = module.split(".")
    for length in range(len(parts), 0, -1):
        key = ".".join(parts[:length])
        if key in IMPORT_TO_DISTRIBUTIONS:
            return tuple(normalize_distribution(d) for d in IMPORT_TO_DISTRIBUTIONS[key])
    if parts[0] == "google" and len(parts) >= 3 and parts[1] == "cloud":
        return (normalize_distribution(f"google-cloud-{parts[2]}"),)
    return (normalize_distribution(parts[0]),)


def mapped(module: str) -> bool:
    """Whether ``module``'s distribution is known, rather than guessed from its name."""
    parts = module.split(".")
    if parts[0] == "google" and len(parts) >= 3 and parts[1] == "cloud":
        return True
    return any(".".join(parts[:n]) in IMPORT_TO_DISTRIBUTIONS for n in range(len(parts), 0, -1))


def provided(declared: set[str], with_client: bool) -> set[str]:
    """Distributions installed given the declared ones (normalised), one level of BRINGS."""
    out = set(declared)
    if with_client:
        out.update(CLIENT_PROVIDES)
    for name in list(out):
        out.update(BRINGS.get(name, ()))
    return out


def satisfied_by_name(module: str, installed: set[str]) -> bool:
    """For an unmapped import: a declared distribution whose name contains the import name
    as a word (``discord`` in ``discord-py``, ``jose`` in ``python-jose``, ``github`` in
    ``pygithub``)."""
    word = normalize_distribution(module.split(".")[0])
    pattern = re.compile(rf"(?:^|-|py){re.escape(word)}(?:$|-|py|\d)")
    return any(pattern.search(name) for name in installed)
