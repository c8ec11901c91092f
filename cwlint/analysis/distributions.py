"""Which distribution provides an import, and what a declared distribution brings along (CW402).

The import map is kept here, with where each fact comes from; what a distribution installs
with it is generated data (``rules/distributions/requires.toml``, below). Distribution names are normalised (PEP 503: lower case,
runs of ``-_.`` as one ``-``), as :func:`cwlint.header.normalize_distribution` does.
"""

from __future__ import annotations

import functools
import re
import sys

from cwlint.analysis.data import load
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

#: What each distribution installs with it lives in ``rules/distributions/requires.toml``,
#: generated by ``scripts/generate_requirements.py`` (``uv pip compile`` of each distribution
#: alone, for the sandbox's CPython 3.11 on Linux, today and a year ago): ``[closure]`` maps a
#: distribution, or ``name[extra]``, to every other distribution of its resolution. The same
#: rule for every distribution, codewords-client (httpx, fastapi, pydantic, uvicorn[standard],
#: redis, structlog and theirs) as much as fastapi (starlette, pydantic) or pandas (numpy).
REQUIRES_FILE = "distributions/requires.toml"


@functools.cache
def closures() -> dict[str, frozenset[str]]:
    """Distribution (or ``name[extra]``) -> the distributions installed with it."""
    data = load(REQUIRES_FILE).get("closure", {})
    return {key: frozenset(entry.get("requires", ())) for key, entry in data.items()}


_EXTRAS = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*\[(?P<extras>[^\]]*)\]")


def declared_with_extras(dependencies: list[str]) -> set[str]:
    """Distributions the extras of the declared requirements add (normalised)."""
    out: set[str] = set()
    known = closures()
    for requirement in dependencies:
        match = _EXTRAS.match(requirement)
        if match is None:
            continue
        name = normalize_distribution(match.group("name"))
        for extra in match.group("extras").split(","):
            out.update(known.get(f"{name}[{extra.strip().lower()}]", ()))
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
    """Distributions installed given the declared ones (normalised): each with its closure
    (codewords-client's too when the file imports it undeclared: CW405 asks for it)."""
    known = closures()
    out = set(declared)
    if with_client:
        out.add("codewords-client")
    for name in list(out):
        out.update(known.get(name, ()))
    return out


def satisfied_by_name(module: str, installed: set[str]) -> bool:
    """For an unmapped import: a declared distribution whose name contains the import name
    as a word (``discord`` in ``discord-py``, ``jose`` in ``python-jose``, ``github`` in
    ``pygithub``)."""
    word = normalize_distribution(module.split(".")[0])
    pattern = re.compile(rf"(?:^|-|py){re.escape(word)}(?:$|-|py|\d)")
    return any(pattern.search(name) for name in installed)
