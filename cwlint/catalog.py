"""The service catalog: the platform's contract for library services, as data.

One TOML file per service under ``rules/services/`` at the repository root. The wheel ships
those files inside this package as ``cwlint/_catalog/`` (see ``pyproject.toml``); a source
checkout (or an editable install) reads them from ``rules/`` directly.

This module is the bottom layer of cwkit: it imports nothing else from ``cwlint``, so the
linter's rules and ``cwtest``'s simulator read the same files through the same models.

Every fact carries a ``source`` (where it was seen) and a ``confidence``:

``documented``  stated in the platform's docs (prose, or a "Fixed: was ..." correction)
``source``      read in the ``codewords-client`` wheels
``example``     only seen in code examples of the docs or the design page
``historical``  only in an earlier revision of the docs
``inferred``    a deduction nobody confirmed

Rules turn confidence into severity: ``documented``/``source`` facts give errors (and may be
fixed); the others give warnings without a fix.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Confidence = Literal["documented", "source", "example", "historical", "inferred"]
InputType = Literal["string", "integer", "number", "boolean", "object", "array", "any"]
#: JSON Schema's type names (a tool parameter's ``type``).
JsonType = Literal["string", "integer", "number", "boolean", "object", "array", "null"]

#: Confidences strong enough for an error (and a fix); the rest give warnings.
FIRM: frozenset[str] = frozenset({"documented", "source"})


class CatalogError(Exception):
    """A catalog file is missing, unreadable or breaks the schema. The message is one line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class InputSpec(_Strict):
    """One key of a service's ``inputs`` (or a nested property of one)."""

    type: InputType
    required: bool = False
    #: Required only when other inputs hold these values, e.g. ``{operation = "set"}``.
    required_when: dict[str, str | list[str]] | None = None
    allowed: list[str | int | float | bool] | None = None
    description: str = ""
    items: InputSpec | None = None
    properties: dict[str, InputSpec] | None = None
    #: Top-level inputs must name both; nested ones inherit them from their parent.
    source: str | None = None
    confidence: Confidence | None = None

    def is_required(self, inputs: dict[str, Any]) -> bool | None:
        """Whether this key is required given the literal ``inputs``; None when undecidable."""
        if self.required:
            return True
        if not self.required_when:
            return False
        for key, wanted in self.required_when.items():
            if key not in inputs:
                return None
            values = [wanted] if isinstance(wanted, str) else wanted
            if inputs[key] not in values:
                return False
        return True


class Rename(_Strict):
    """A key that users (and older docs) write under a wrong name."""

    to: str
    source: str
    confidence: Confidence


class Response(_Strict):
    """The answer's shape, as a JSON Schema (the simulator validates its answers with it)."""

    json_schema: dict[str, Any] = Field(alias="schema")
    source: str
    confidence: Confidence
    #: False when the schema says nothing of what a caller reads (Composio's tool results: "any
    #: object"): the simulator's answer is then a guess, and a failure after it is inconclusive.
    shape_known: bool = True


class EnvFromInput(_Strict):
    """An env var the workflow must declare for a literal input value (pipedream's apps)."""

    input: str
    #: ``{VALUE}`` is replaced by the input value, upper-cased, ``-`` turned into ``_``.
    template: str
    source: str
    confidence: Confidence

    def env_var(self, value: str) -> str:
        return self.template.replace("{VALUE}", value.upper().replace("-", "_"))


#: The Python types of the enum values each JSON type admits (object, array and null: none).
_ENUM_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,),
}


class ToolParameter(_Strict):
    """One parameter of a tool: its JSON type, what it is, and the values it takes if enumerated."""

    name: str = Field(min_length=1)
    type: JsonType
    description: str
    enum: list[str | int | float | bool] | None = None

    @model_validator(mode="after")
    def _check(self) -> ToolParameter:
        if self.enum is None:
            return self
        if not self.enum:
            raise ValueError(f"enum of {self.name!r} is empty")
        kinds = _ENUM_TYPES.get(self.type)
        if kinds is None:
            raise ValueError(f"enum of {self.name!r}: a {self.type} parameter takes no enum")
        for value in self.enum:
            if isinstance(value, bool) != (self.type == "boolean") or not isinstance(value, kinds):
                raise ValueError(f"enum of {self.name!r}: {value!r} is not of type {self.type!r}")
        return self


def _repeated(names: Iterable[str]) -> str | None:
    """The first name that comes twice, if any."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


class Tool(_Strict):
    """A tool a variant offers its caller (an MCP server's ``tools/list``); parameters inherit
    the tool's ``source`` and ``confidence``."""

    #: MCP's advice for tool names: 1 to 128 of ``A-Z a-z 0-9 _ - .``.
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")
    description: str
    parameters: list[ToolParameter] = Field(default_factory=list)
    source: str
    confidence: Confidence

    @model_validator(mode="after")
    def _check(self) -> Tool:
        repeated = _repeated(p.name for p in self.parameters)
        if repeated is not None:
            raise ValueError(f"parameter {repeated!r} is listed twice")
        return self


class Variant(_Strict):
    """One contract of a service, chosen by the request's path and whether a body is sent."""

    name: str
    #: Path after ``/run/{service_id}/``, without surrounding slashes; ``""`` is the root. A
    #: segment ``{name}`` matches any one segment (``api/v3/tools/execute/{tool_slug}``).
    path: str = ""
    #: True: applies when inputs are sent; False: when none are; None: either.
    body: bool | None = None
    #: ``library``: CodeWords' own ``inputs`` dict; ``vendor``: a vendor's wire format.
    format: Literal["library", "vendor"] = "library"
    #: Whether keys the catalog does not list are errors.
    closed: bool = False
    description: str = ""
    source: str
    confidence: Confidence
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    renamed: dict[str, Rename] = Field(default_factory=dict)
    response: Response | None = None
    env_from_input: EnvFromInput | None = None
    #: The tools the variant offers, in the order it lists them (devx_mcp's MCP server).
    tools: list[Tool] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Variant:
        if self.path != self.path.strip("/"):
            raise ValueError(f"path {self.path!r} must not start or end with '/'")
        for key, spec in self.inputs.items():
            if spec.source is None or spec.confidence is None:
                raise ValueError(f"inputs.{key} needs both 'source' and 'confidence'")
        for old, rename in self.renamed.items():
            if old in self.inputs:
                raise ValueError(f"renamed.{old}: {old!r} is also listed as an input")
            if self.inputs and rename.to not in self.inputs:
                raise ValueError(f"renamed.{old}: target {rename.to!r} is not an input")
        repeated = _repeated(tool.name for tool in self.tools)
        if repeated is not None:
            raise ValueError(f"tools: {repeated!r} is listed twice")
        return self

    def matches(self, path: str, has_body: bool | None) -> bool:
        if not _path_matches(self.path, path.strip("/")):
            return False
        return self.body is None or has_body is None or self.body == has_body


def _path_matches(pattern: str, path: str) -> bool:
    """``pattern`` equals ``path``, a ``{name}`` segment standing for any one non-empty segment."""
    if "{" not in pattern:
        return pattern == path
    wanted, given = pattern.split("/"), path.split("/")
    return len(wanted) == len(given) and all(
        (w.startswith("{") and w.endswith("}") and g) or w == g for w, g in zip(wanted, given))


class Models(_Strict):
    """Model-name prefixes an LLM service accepts (for provider mismatches)."""

    prefixes: list[str]
    source: str
    confidence: Confidence


class Service(_Strict):
    id: str
    summary: str
    source: str
    confidence: Confidence
    models: Models | None = None
    variants: list[Variant] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> Service:
        seen: set[tuple[str, bool | None]] = set()
        for variant in self.variants:
            key = (variant.path, variant.body)
            if key in seen:
                raise ValueError(f"two variants share path {variant.path!r} and body {variant.body}")
            seen.add(key)
        return self

    def variant(self, path: str = "", has_body: bool | None = True) -> Variant | None:
        """The variant a request to ``path`` (with or without a body) addresses."""
        for variant in self.variants:
            if variant.matches(path, has_body):
                return variant
        return None


class Catalog(_Strict):
    services: dict[str, Service]

    def __contains__(self, service_id: object) -> bool:
        return service_id in self.services

    def get(self, service_id: str) -> Service | None:
        return self.services.get(service_id)

    @property
    def ids(self) -> list[str]:
        return sorted(self.services)


def catalog_dir() -> Path:
    """Where the TOML files are: inside the installed package, else the checkout's ``rules/``."""
    packaged = resources.files("cwlint").joinpath("_catalog", "services")
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "rules" / "services"


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(part) for part in err["loc"]) or "(top level)"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {err['msg']}{more}"


def load_service(path: Path) -> Service:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: invalid TOML: {exc}") from None
    try:
        service = Service.model_validate(data)
    except ValidationError as exc:
        raise CatalogError(f"{path}: {_first_error(exc)}") from None
    if service.id != path.stem:
        raise CatalogError(f"{path}: id {service.id!r} does not match the file name")
    return service


def load_catalog(directory: Path | None = None) -> Catalog:
    """Load and validate every service file; raise CatalogError naming the first bad entry."""
    directory = directory or catalog_dir()
    if not directory.is_dir():
        raise CatalogError(f"{directory}: service catalog not found")
    files = sorted(directory.glob("*.toml"))
    if not files:
        raise CatalogError(f"{directory}: service catalog is empty")
    return Catalog(services={service.id: service for service in map(load_service, files)})


@functools.cache
def default_catalog() -> Catalog:
    """The bundled catalog, loaded once per process."""
    return load_catalog()
