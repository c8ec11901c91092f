"""A plain-string field named like a URL or an e-mail (or a CodeWords file input) gets that format.

Real workflows check such fields in validators (``startswith(("http://", "https://"))``): the smoke
call and the search must reach the handler behind them, not only the 422.
"""

from __future__ import annotations

from random import Random
from typing import Optional

import pytest
from fastapi import FastAPI
from pydantic import BaseModel, EmailStr, Field, field_validator

from cwtest.fuzz import InProcessTarget, Strategies, routes_of
from cwtest.fuzz.search import draw
from cwtest.fuzz.minimal import Generator, minimal_request
from cwtest.schema_hints import implied_format, with_implied_format
from cwtest.simulator import SimulatedRuntime


@pytest.mark.parametrize(("name", "schema", "expected"), [
    ("url", {"type": "string"}, "uri"),
    ("article_url", {"type": "string", "minLength": 10}, "uri"),
    ("websiteURL", {"type": "string"}, "uri"),
    ("imageUrl", {"type": "string"}, "uri"),
    ("webhook", {"type": "string"}, "uri"),
    ("links", {"type": "string"}, "uri"),
    ("camera_image", {"type": "string", "contentMediaType": "image/*"}, "uri"),  # a CodeWords file input
    ("email", {"type": "string"}, "email"),
    ("contact_email", {"type": "string"}, "email"),
    ("e_mail", {"type": "string"}, "email"),
    # near misses
    ("image", {"type": "string", "contentMediaType": "image/*", "contentEncoding": "base64"}, None),  # inline data
    ("curl_command", {"type": "string"}, None),
    ("unlink", {"type": "string"}, None),
    ("mailbox", {"type": "string"}, None),
    ("url", {"type": "string", "format": "uri-reference"}, None),  # its own format stays
    ("url", {"type": "string", "pattern": "^/"}, None),
    ("url", {"type": "string", "enum": ["a", "b"]}, None),
    ("urls", {"type": "array", "items": {"type": "string"}}, None),
])
def test_the_implied_format(name: str, schema: dict, expected: str | None) -> None:
    assert implied_format(name, schema) == expected


def test_optional_fields_get_it_on_their_string_branch() -> None:
    schema = {"anyOf": [{"type": "string"}, {"type": "null"}], "contentMediaType": "image/*", "default": None}
    hinted = with_implied_format("previous_frame", schema)
    assert hinted is not None and hinted["anyOf"][0]["format"] == "uri" and hinted["anyOf"][1] == {"type": "null"}
    assert with_implied_format("title", {"anyOf": [{"type": "string"}, {"type": "null"}]}) is None


class Article(BaseModel):
    """The shape of a real fact-checking workflow's request: a plain str checked by a validator."""

    url: str = Field(..., min_length=10)
    reviewer_email: Optional[str] = None
    notes: str = ""

    @field_validator("url")
    @classmethod
    def http_only(cls, value: str) -> str:
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError("URL must start with http:// or https://")
        return value


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/")
    async def check(article: Article) -> dict:
        return {"host": article.url.split("/")[2]}

    return app


def test_the_smoke_call_sends_a_url_the_validator_accepts() -> None:
    document = _app().openapi()
    [route] = routes_of(document)
    request = minimal_request(route, Generator(document))
    assert request.json_body["url"].startswith("https://") and len(request.json_body["url"]) >= 10


def test_the_search_reaches_the_handler_and_still_sends_edge_cases() -> None:
    document = _app().openapi()
    [route] = routes_of(document)
    strategy = Strategies(document).request(route)
    rng = Random(0)
    urls = [drawn[0].json_body["url"] for drawn in (draw(strategy, rng) for _ in range(200)) if drawn]
    web = [u for u in urls if u.startswith(("http://", "https://"))]
    assert len(web) >= 60 and len(urls) - len(web) >= 40  # both kinds, neither crowded out
    emails = [d[0].json_body.get("reviewer_email") for d in (draw(strategy, rng) for _ in range(200)) if d]
    assert any(isinstance(e, str) and "@" in e for e in emails)


def test_in_process_most_valid_requests_now_pass_the_validator() -> None:
    from cwtest.fuzz import FuzzConfig, fuzz

    with InProcessTarget(_app(), SimulatedRuntime()) as target:
        report = fuzz(target, FuzzConfig(examples=50, seed=0, checks=("fuzz",), shrink_time=0))
    stats = report.routes[0].search
    assert stats.statuses["fuzz"].get("2xx", 0) >= 15, stats.statuses


def test_an_email_str_field_is_unaffected_by_its_own_format() -> None:
    class Signup(BaseModel):
        email: EmailStr

    assert implied_format("email", Signup.model_json_schema()["properties"]["email"]) is None
