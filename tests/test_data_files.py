"""The rules' data files under rules/ (secrets, blocking calls, distributions) are well formed:
every entry says where its fact comes from, every regex compiles, every kind is known."""

from __future__ import annotations

import re

import pytest

from cwlint import secrets
from cwlint.analysis.data import data_root, load, load_dir
from cwlint.rules.blocking_call_in_async import blocking_calls, client_kinds

KINDS = {"network", "database", "cpu", "disk", "subprocess", "sleep"}


def test_secret_formats_have_sources_and_compile() -> None:
    formats = secrets.secret_formats()
    assert len(formats) >= 50
    ids = [fmt.id for fmt in formats]
    assert len(ids) == len(set(ids)), "duplicate format ids"
    for fmt in formats:
        assert fmt.source.strip() and fmt.name and fmt.env_var, fmt.id
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", fmt.env_var), fmt.id
        assert fmt.keywords and all(word == word.lower() and word for word in fmt.keywords), fmt.id
        assert fmt.pattern.groups >= fmt.group, fmt.id


@pytest.mark.parametrize(
    ("value", "format_id"),
    [
        ("pplx-" + "a1B2c3D4e5F6" * 4, "perplexity-api-key"),
        ("gsk_" + "Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz2Xc4Vb6Nm8Qw0Er2Ty4Ui6O", "groq-api-key"),
        ("dop_v1_" + "0f1e2d3c4b5a6978" * 4, "digitalocean-token"),
        ("SG." + "aB3dE5gH7jK9mN1pQ3sT5v" + "." + "Xy7Zw5Vu3Ts1Rq9Po7Nm5Lk3Ji1Hg9Fe7Dc5Ba3Zy1X", "sendgrid-api-key"),
        ("https://discord.com/api/webhooks/123456789012345678/" + "aB3dE5gH7jK9mN1pQ3sT5vX7zA9cE1gI3kM5oQ7sU9wY1bD3fH5jL7nP9rT1vX3zZ", "discord-webhook-url"),
        ("shpat_" + "0123456789abcdef" * 2, "shopify-token"),
        ("pat" + "Ab3De5Gh7Jk9Mn" + "." + "0f1e2d3c4b5a6978" * 4, "airtable-pat"),
        ("glpat-" + "Ab3De5Gh7Jk9Mn1Pq3St", "gitlab-token"),
    ],
)
def test_each_new_format_matches_its_shape(value: str, format_id: str) -> None:
    found = secrets.find_credentials(f"token = {value} ;")
    assert [match.format.id for match in found] == [format_id]


def test_blocking_data_is_well_formed() -> None:
    calls = blocking_calls()
    assert {"requests.get", "time.sleep", "pymysql.connect", "boto3.client", "bcrypt.hashpw", "pandas.read_csv"} <= set(calls)
    for name, (kind, instead) in calls.items():
        assert kind in KINDS, name
        assert instead, name
    for stem, data in load_dir("blocking"):
        for entry in data.get("call", ()):
            assert entry["source"].strip(), (stem, entry["names"])
        for entry in data.get("client", ()):
            assert entry["source"].strip() and entry["label"], (stem, entry)
    kinds = client_kinds()
    assert {"composio.Composio", "firecrawl.FirecrawlApp", "openai.OpenAI", "PIL.Image.open"} <= set(kinds)


def test_data_files_live_under_the_shipped_tree() -> None:
    root = data_root()
    for relative in ("secrets/formats.toml", "blocking/clients.toml", "distributions/requires.toml"):
        assert (root / relative).is_file(), relative
        assert load(relative)
