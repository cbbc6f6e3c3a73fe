"""Declarative request definitions: one per endpoint, read both by the parsers (serving/http.py)
and by the OpenAPI document (serving/openapi.py), so what is checked and what is documented cannot
drift apart.

A view declares its query parameters, JSON body fields, success status and response schema with
`@accepts`, under the route decorator:

    @bp.get("/v1/popular")
    @accepts(query=(*PICKS_QUERY, Param("window", STRING, "7d (trending) or all")),
             response=PICKS)
    def popular():
        args = query_args()           # recsys_serving.http: {"n": 10, ..., "window": None}

`query_args()` / `body_args()` (serving/http.py) parse the current request against its view's
definition: unknown or repeated parameters, wrong types, out-of-range values and missing required
fields are a 400 naming the parameter. A kind's checks are those of `Param.parse`; a `convert`
callable runs after them (e.g. to parse a filter expression; it raises ParameterError). Every
route must be declared (tests/test_server_app.py checks it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from recsys.data.incoming import MAX_ID_LENGTH, json_type, text
from recsys.errors import ParameterError
from recsys.service.expressions import MAX_LENGTH as MAX_EXPRESSION
from recsys.service.expressions import parse_boosts, parse_filter
from recsys.service.query import MAX_N
from recsys.service.seen import SEEN_MODES

INTEGER, NUMBER, BOOLEAN, STRING, IDS, OBJECTS, OBJECT, STRINGS, TIME = (
    "integer", "number", "boolean", "string", "ids", "objects", "object", "strings", "time",
)  # fmt: skip
EXPRESSION = "expression"  # free text checked by `convert` alone (a filter or boost)
MAX_LIST = 1000  # ids in `exclude`, a basket or a batch
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
DIGITS = re.compile(r"[0-9]{1,6}")
DECIMAL = re.compile(r"[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]{1,3})?")
ID_PATTERN = r"^[^\x00]*\S[^\x00]*$"  # what recsys.data.incoming.text accepts, besides the length
View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Param:
    """One query parameter or JSON body field. `kind`: integer and number (from `low` to `high`),
    boolean, string (an id-like text: non-blank, at most MAX_ID_LENGTH characters, no NUL, or one
    of `choices`), ids (comma-separated in a query, a JSON list of strings in a body, at most
    `max_items`), strings (a JSON list of `choices` or texts), objects (a JSON list of objects,
    described by `item_schema`), object (a JSON object), time (ISO-8601 text or Unix seconds,
    checked by the caller)."""

    name: str
    kind: str
    description: str = ""
    required: bool = False
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    max_items: int = MAX_LIST
    item_schema: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None
    convert: Callable[[Any], Any] | None = None
    min_items: int = 0
    known: str | None = None  # values the serving bundle knows, documented as an enum (openapi)

    def parse(self, value: Any, in_query: bool) -> Any:
        """The checked value (the default when absent); ParameterError naming the parameter."""
        if value is None:
            if self.required:
                raise ParameterError(self.name, "is required")
            return self.default
        checked = (self._from_query if in_query else self._from_json)(value)
        return self.convert(checked) if self.convert is not None else checked

    def _from_query(self, raw: str) -> Any:
        if self.kind == INTEGER:
            return self._in_range(int(raw) if DIGITS.fullmatch(raw) else None, raw)
        if self.kind == NUMBER:
            return self._in_range(float(raw) if DECIMAL.fullmatch(raw) else None, raw)
        if self.kind == BOOLEAN:
            if raw.lower() not in TRUE + FALSE:
                raise ParameterError(self.name, f"must be true or false, got {shown(raw)}")
            return raw.lower() in TRUE
        if self.kind == IDS:
            return self._ids(tuple(piece for piece in raw.split(",") if piece))
        if self.kind == EXPRESSION:
            return raw
        return self._text(raw, self.name)

    def _from_json(self, value: Any) -> Any:
        if self.kind in (INTEGER, NUMBER):
            whole = isinstance(value, int) or (self.kind == NUMBER and isinstance(value, float))
            return self._in_range(value if whole and not isinstance(value, bool) else None, value)
        if self.kind == BOOLEAN:
            if not isinstance(value, bool):
                raise ParameterError(self.name, f"must be true or false, not {json_type(value)}")
            return value
        if self.kind == TIME:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ParameterError(self.name, "must be ISO-8601 text or Unix seconds")
            return value
        if self.kind == OBJECT:
            if not isinstance(value, dict):
                raise ParameterError(self.name, f"must be an object, not {json_type(value)}")
            return value
        if self.kind in (IDS, STRINGS, OBJECTS):
            if not isinstance(value, list):
                raise ParameterError(self.name, f"must be a list, not {json_type(value)}")
            if self.kind == OBJECTS:
                return self._objects(value)
            return list(self._ids(tuple(value)))
        return self._text(value, self.name)

    def _in_range(self, value: float | None, raw: Any) -> Any:
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if value is None or not low <= value <= high:  # NaN fails too
            kind = "an integer" if self.kind == INTEGER else "a number"
            raise ParameterError(self.name, f"must be {kind} from {low:g} to {high:g}, "
                                            f"got {shown(raw)}")  # fmt: skip
        return value

    def _ids(self, ids: tuple[Any, ...]) -> tuple[str, ...]:
        self._count(len(ids))
        if len(ids) > self.max_items:
            raise ParameterError(self.name, f"holds {len(ids)} items; at most {self.max_items}")
        return tuple(self._text(item, f"{self.name}[{i}]") for i, item in enumerate(ids))

    def _count(self, count: int) -> None:
        if count < self.min_items:
            raise ParameterError(self.name, f"must hold at least {self.min_items} item"
                                            f"{'s' if self.min_items > 1 else ''}")  # fmt: skip

    def _objects(self, values: list[Any]) -> list[dict[str, Any]]:
        self._count(len(values))
        if len(values) > self.max_items:
            raise ParameterError(self.name, f"holds {len(values)} items; at most {self.max_items}")
        for i, value in enumerate(values):
            if not isinstance(value, dict):
                raise ParameterError(f"{self.name}[{i}]", f"must be an object, "
                                                          f"not {json_type(value)}")  # fmt: skip
        return values

    def _text(self, value: Any, name: str) -> str:
        checked = str(text(value, name, required=True))
        if self.choices and checked not in self.choices:
            raise ParameterError(name, f"must be one of {', '.join(self.choices)}, "
                                       f"got {shown(checked)}")  # fmt: skip
        return checked

    def schema(self, in_query: bool, known: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """This parameter's JSON schema (OpenAPI 3.0 dialect); `known` maps a `known` source to
        the values the server accepts now."""
        found: dict[str, Any] = {"description": self.description} if self.description else {}
        if self.kind in (INTEGER, NUMBER):
            found["type"] = self.kind
            found.update({k: v for k, v in (("minimum", self.low), ("maximum", self.high))
                          if v is not None})  # fmt: skip
        elif self.kind == BOOLEAN:
            found["type"] = "boolean"
        elif self.kind == OBJECT:
            found["type"] = "object"
        elif self.kind == EXPRESSION:
            found.update(type="string", minLength=1, maxLength=MAX_EXPRESSION)
        elif self.kind == TIME:
            found["anyOf"] = [{"type": "string", "minLength": 1}, {"type": "number"}]
        elif self.kind == OBJECTS:
            items = self.item_schema
            if callable(items):
                items = items(known or {})
            found.update(type="array", maxItems=self.max_items,
                         items=dict(items or {"type": "object"}))  # fmt: skip
        elif self.kind == IDS and in_query:
            found.update(type="string", pattern=r"^[^\x00]*$")
            found.setdefault("description", "comma-separated ids")
        elif self.kind in (IDS, STRINGS):
            found.update(type="array", maxItems=self.max_items, items=self._text_schema())
        else:
            found.update(self._text_schema())
        values = (known or {}).get(self.known or "")
        if values:
            found.update(enum=values)
        if self.min_items and found.get("type") == "array":
            found["minItems"] = self.min_items
        if self.default is not None:
            found["default"] = self.default
        if not in_query and not self.required:
            found["nullable"] = True  # null is taken as absent
        return found

    def _text_schema(self) -> dict[str, Any]:
        if self.choices:
            return {"type": "string", "enum": list(self.choices)}
        return {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH,
                "pattern": ID_PATTERN}  # fmt: skip


@dataclass(frozen=True)
class Endpoint:
    """What one view accepts and answers. `body` None: no body; `status` is the success status;
    `response` its JSON schema (None: not JSON, e.g. /metrics); `errors` the statuses beyond the
    common ones with what they mean; `access` who may call it (serving/access.py: none, public,
    personal, private, admin or metrics; admin, a private key, unless declared)."""

    query: tuple[Param, ...] = ()
    body: tuple[Param, ...] | None = None
    status: int = 200
    response: Mapping[str, Any] | None = field(default_factory=lambda: {"type": "object"})
    errors: tuple[tuple[int, str], ...] = ()
    access: str = "admin"
    beacon: bool = False  # the JSON body may come as text/plain (sendBeacon: no CORS preflight)
    media_type: str = "application/json"


def accepts(**definition: Any) -> Callable[[View], View]:
    """Declares the decorated view's Endpoint (keywords as Endpoint's fields)."""
    endpoint = Endpoint(**definition)

    def declare(view: View) -> View:
        view.endpoint_definition = endpoint  # type: ignore[attr-defined]
        return view

    return declare


def definition_of(view: Callable[..., Any]) -> Endpoint | None:
    found: Endpoint | None = getattr(view, "endpoint_definition", None)
    return found


def shown(raw: Any) -> str:
    raw = str(raw)
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


def ref(name: str) -> dict[str, str]:
    """A schema of the OpenAPI document's components (serving/openapi.py defines them)."""
    return {"$ref": f"#/components/schemas/{name}"}


PICKS = ref("Picks")
PICKS_QUERY = (  # every recommendation endpoint's (recsys.service.Query's fields)
    Param("n", INTEGER, "how many items", default=10, low=1, high=MAX_N),
    Param("category", STRING, "category path prefix, e.g. shoes", known="categories"),
    Param("exclude", IDS, "comma-separated item ids never to recommend", default=()),
    Param("in_stock", BOOLEAN, "only items in stock (default: true when the catalogue has stock)"),
    Param("diversity", NUMBER, "0: by score; up to 1: more varied", default=0.0, low=0, high=1),
    Param("experiment", STRING, "the experiment to serve (when the user is in several)"),
    Param("filter", EXPRESSION, 'only matching items, e.g. price < 50 and brand in ("acme")',
          convert=parse_filter),
    Param("boost", EXPRESSION, 'scores of matching items multiplied, e.g. brand = "acme": 1.5',
          convert=parse_boosts),
    Param("seen", STRING, "personal picks: items the user already interacted with allowed, "
          "excluded, or capped to server.seen_cap of the list (default: server.seen)",
          choices=SEEN_MODES),
)  # fmt: skip
