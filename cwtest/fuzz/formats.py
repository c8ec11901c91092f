"""Strategies for the string formats FastAPI and pydantic emit, and the boundary values of each.

``weighted`` draws a fixed share of the values from a list of boundaries (the empty and the
longest string, non-ASCII text, each format's edge dates and addresses) and the rest from a
general strategy; the choice is itself a draw that shrinks towards the boundary, so a failure at
a boundary shrinks to that boundary rather than away from it. Used by :mod:`cwtest.fuzz.schema`.
"""

from __future__ import annotations

import copy
import string
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

#: Share of scalar draws, in percent, taken from the boundary values.
BOUNDARY_PERCENT = 30

NON_ASCII = ["é", "Ünïcödé", "日本語", "🙂", "ß", "İ", "\u00a0", "Ω≈ç√", "שלום", "e\u0301"]
WHITESPACE = [" ", "\t", "\n"]


def fit_length(sample: str, low: int, high: int | None) -> str | None:
    """``sample`` repeated up to ``low`` code points and cut at ``high``; None when that is impossible."""
    text = sample
    if low and len(text) < low:
        text = (sample * (low // max(len(sample), 1) + 1))[:max(low, len(sample))]
    if high is not None and len(text) > high:
        text = text[:high]
    if len(text) < low or (high is not None and len(text) > high):
        return None
    return text


def weighted(boundaries: list[Any], general: st.SearchStrategy[Any],
             percent: int = BOUNDARY_PERCENT) -> st.SearchStrategy[Any]:
    """Boundary values for ``percent`` of the draws, ``general`` for the rest; shrinks towards the boundaries."""
    unique: list[Any] = []
    for value in boundaries:
        if value not in unique or type(value) is not type(unique[unique.index(value)]):
            unique.append(value)
    if not unique:
        return general
    pick = st.sampled_from([copy.deepcopy(v) for v in unique])

    @st.composite
    def draw(draw_: Any) -> Any:
        if draw_(st.integers(0, 99)) < percent:
            return copy.deepcopy(draw_(pick))
        return draw_(general)

    return draw()


#: Special-use and reserved top-level names email-validator refuses in EmailStr.
_SPECIAL_TLDS = ("arpa", "invalid", "local", "localhost", "onion", "test", "example", "internal", "home", "lan")


_LABEL_CHARS = string.ascii_lowercase + string.digits
_LOCAL_CHARS = string.ascii_letters + string.digits + "_+-"


def _labels() -> st.SearchStrategy[str]:
    """DNS labels: letters and digits, single inner hyphens (``a--b`` is reserved for punycode)."""
    return st.builds(lambda head, tail: head + ("-" + tail if tail else ""),
                     st.text(_LABEL_CHARS, min_size=1, max_size=10), st.text(_LABEL_CHARS, max_size=6))


def domains() -> st.SearchStrategy[str]:
    tld = st.sampled_from(["com", "org", "net", "io", "de", "fr", "jp", "co.uk", "dev", "app"])
    return st.builds(lambda labels, t: ".".join([*labels, t]), st.lists(_labels(), min_size=1, max_size=2), tld)


def emails() -> st.SearchStrategy[str]:
    atom = st.text(_LOCAL_CHARS, min_size=1, max_size=12)
    local = st.lists(atom, min_size=1, max_size=3).map(".".join)
    general = st.builds(lambda name, domain: f"{name}@{domain}", local, domains())
    return weighted(["a@b.co", "josé@example.com", "ü@münchen.de", "first.last+tag@sub.example.org",
                     ("x" * 64) + "@example.com", "user@xn--mnchen-3ya.de"], general)


def urls(max_length: int | None = None) -> st.SearchStrategy[str]:
    segment = st.text(string.ascii_letters + string.digits + "._~-", min_size=1, max_size=12).filter(
        lambda seg: seg not in (".", ".."))
    general = st.builds(
        lambda scheme, host, port, path, query: f"{scheme}://{host}{port}/{'/'.join(path)}{query}",
        st.sampled_from(["https", "http"]), domains(), st.sampled_from(["", "", ":8080", ":443"]),
        st.lists(segment, max_size=3),
        st.sampled_from(["", "?q=1", "?a=b&c=d", "#top"]),
    )
    edges = ["https://example.com", "http://localhost:8080/", "https://例え.jp/パス?q=ü",
             "https://example.com/a%20b?x=%C3%A9", "http://127.0.0.1/"]
    if max_length:
        long_url = "https://example.com/" + "a" * max(0, min(max_length, 4000) - len("https://example.com/"))
        edges.append(long_url)
        general = general.filter(lambda u: len(u) <= max_length)
        edges = [e for e in edges if len(e) <= max_length]
    return weighted(edges, general)


def _datetimes() -> st.SearchStrategy[str]:
    zones = st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8)), None])
    # Naive and aware values from one strategy, as hypothesis documents (timezones may draw None); its
    # overloads have no case for bounds with such a strategy.
    general = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                           timezones=zones).map(lambda d: d.isoformat())  # type: ignore[arg-type]
    return weighted(["1970-01-01T00:00:00Z", "2024-02-29T23:59:59+00:00", "2038-01-19T03:14:08Z",
                     "9999-12-31T23:59:59Z", "2024-01-01T00:00:00"], general)


FORMATS: dict[str, Any] = {
    "email": emails,
    "idn-email": emails,
    "uri": urls,
    "url": urls,
    "iri": urls,
    "uri-reference": urls,
    "multi-host-uri": urls,
    "date": lambda: weighted(["2024-02-29", "1970-01-01", "0001-01-01", "9999-12-31"],
                             st.dates().map(date.isoformat)),
    "date-time": _datetimes,
    "time": lambda: weighted(["00:00:00", "23:59:59.999999"], st.times().map(time.isoformat)),
    "duration": lambda: weighted(["PT0S", "P1D", "PT0.5S"],
                                 st.integers(0, 10**7).map(lambda s: f"PT{s}S")),
    "uuid": lambda: weighted(["00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff"],
                             st.uuids().map(str)),
    "ipv4": lambda: st.ip_addresses(v=4).map(str),
    "ipv6": lambda: st.ip_addresses(v=6).map(str),
    "ipvanyaddress": lambda: st.ip_addresses().map(str),
    "hostname": domains,
}



def json_values() -> st.SearchStrategy[Any]:
    """Any small JSON value (for ``{}`` and free-form objects)."""
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=False, allow_infinity=False, width=32), st.text(max_size=20))
    return st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(string.ascii_letters, min_size=1, max_size=8), inner,
                                                     max_size=3)), max_leaves=6)
