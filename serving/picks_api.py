"""Recommendation endpoints: parse, call recsys.service (through recsys.experiments.routing for
the variant a visitor is in), respond. Each view takes the serving bundle once, so a reload
mid-request never mixes two bundles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from recsys import service
from recsys.errors import ParameterError
from recsys.eventstore import StoreUnavailable
from recsys.experiments import routing
from recsys.service import ServedBundle
from recsys_serving.access import PERSONAL, PUBLIC, require_user
from recsys_serving.http import body_args, path_id, query_args, request_query, user_path_id
from recsys_serving.params import IDS, PICKS, PICKS_QUERY, STRING, Param, accepts
from recsys_serving.resources import DEGRADED_STORE, is_forgotten, picks_body, resources

bp = Blueprint("picks", __name__)
ANONYMOUS = "anonymous"
WINDOW = "trending over the bundle's [models.<popular>] window_days (e.g. 7d), or all"
RECENT_EVENTS = 100  # store events folded into a user's vector per request
NEW_ARRIVALS_QUERY = tuple(p for p in PICKS_QUERY if p.name in
                           ("n", "category", "exclude", "in_stock", "filter", "boost"))  # fmt: skip
BASKET = Param("items", IDS, "item ids (the basket, or those seen this session)", required=True)
BATCH_RESULTS = {
    "type": "object",
    "required": ["request_id", "results"],
    "properties": {
        "request_id": {"type": "string"},
        "results": {"type": "array", "items": {"allOf": [
            PICKS, {"type": "object", "required": ["user_id"],
                    "properties": {"user_id": {"type": "string"}}},
        ]}},
    },
}  # fmt: skip


@bp.get("/v1/users/<path:user_id>/recommendations")
@accepts(query=PICKS_QUERY, response=PICKS, access=PERSONAL)
def user_recommendations(user_id: str) -> dict[str, Any]:
    """Personalised picks ("recommended for you"). An id holding "/" is sent as %2F."""
    user_id = user_path_id(after=1)
    return user_body("recommendations", user_id, request_query(), resources().holder.served)


@bp.get("/v1/items/<path:item_id>/similar")
@accepts(query=PICKS_QUERY, response=PICKS, access=PUBLIC)
def similar_items(item_id: str) -> dict[str, Any]:
    """Similar items ("customers who viewed this also viewed")."""
    item_id = path_id(item_id, "item_id")
    return routed_body(
        "similar", item_id, None, request_query(), resources().holder.served,
        lambda source, model, asked: service.similar(source, item_id, asked, model),
    )  # fmt: skip


@bp.post("/v1/cross-sell")
@accepts(query=PICKS_QUERY, body=(BASKET, Param("user_id", STRING, "the shopper, if known")),
         response=PICKS, access=PUBLIC)  # fmt: skip
def basket_cross_sell() -> dict[str, Any]:
    """Complements for a basket ("frequently bought together"); body {"items", "user_id"?}."""
    query = request_query()
    body = body_args()
    user_id = body.get("user_id")
    forgotten = user_id is not None and is_forgotten(user_id)
    return cross_sell_body(body["items"], user_id, query, forgotten)


@bp.get("/v1/items/<path:item_id>/cross-sell")
@accepts(query=PICKS_QUERY, response=PICKS, access=PUBLIC)
def item_cross_sell(item_id: str) -> dict[str, Any]:
    """Complements of one item."""
    item_id = path_id(item_id, "item_id")
    return cross_sell_body([item_id], None, request_query())


def cross_sell_body(
    items: list[str], user_id: str | None, query: service.Query, forgotten: bool = False
) -> dict[str, Any]:
    return routed_body(
        "cross-sell", user_id or ",".join(items[:1]) or ANONYMOUS, user_id, query,
        resources().holder.served,
        lambda source, model, asked: service.cross_sell(source, items, asked, model),
        forgotten,
    )  # fmt: skip


@bp.get("/v1/popular")
@accepts(query=(*PICKS_QUERY, Param("window", STRING, WINDOW, known="windows")), response=PICKS,
         access=PUBLIC)  # fmt: skip
def popular() -> dict[str, Any]:
    """Best sellers, or trending over the bundle's window with window=7d."""
    query = request_query()
    served = resources().holder.served
    window = query_args()["window"]
    days = served.bundle.popularity.window_days
    trending = window is not None and window != "all"
    if trending and window != f"{days:g}d":
        raise ParameterError("window", f"must be {days:g}d (trending) or all, got {window!r}")
    picks = service.popular(served, query, trending)
    return picks_body("popular", picks, served, None, None)


@bp.get("/v1/new-arrivals")
@accepts(query=NEW_ARRIVALS_QUERY, response=PICKS, access=PUBLIC)
def new_arrivals() -> dict[str, Any]:
    """The newest items (of a category): those added through POST /v1/items since training,
    newest first, then catalogue items without interactions; refilled with popular ones."""
    query = request_query()
    served = resources().holder.served
    return picks_body("new-arrivals", service.new_arrivals(served, query), served, None, None)


@bp.post("/v1/sessions/recommendations")
@accepts(query=PICKS_QUERY, body=(BASKET, Param("session_id", STRING, "the visit")),
         response=PICKS, access=PUBLIC)  # fmt: skip
def session_recommendations() -> dict[str, Any]:
    """Picks for an anonymous visitor from the items seen this session; body {"items": [...],
    "session_id"?}."""
    query = request_query()
    body = body_args()
    items = body["items"]
    visitor = body.get("session_id") or ANONYMOUS
    found = resources()
    served = found.holder.served
    assignment = routing.assigned(found.experiments, "session", visitor, query, served)
    source = routing.source(assignment, served, query, found.holder.pin)  # one ranker, never mixed
    picks = service.session(source.served, items, source.query)
    return picks_body("session", picks, source.served, assignment, None)


@bp.post("/v1/recommendations/batch")
@accepts(query=PICKS_QUERY,
         body=(Param("user_ids", IDS, "the customers; users x n at most server.batch_max_picks "
                     "(default 20,000)", required=True, min_items=1),),
         response=BATCH_RESULTS, access=PERSONAL)  # fmt: skip
def batch() -> dict[str, Any]:
    """Personalised picks for many users at once (campaign tools); body {"user_ids": [...]}."""
    query = request_query()
    user_ids = body_args()["user_ids"]
    most = resources().settings.config.server.batch_max_picks
    if len(user_ids) * query.n > most:
        raise ParameterError("user_ids", f"{len(user_ids)} users x n={query.n} is over "
                             f"server.batch_max_picks ({most}): send fewer users or a smaller n")
    for user_id in user_ids:
        require_user(user_id)
    served = resources().holder.served
    results = [{"user_id": user_id, **user_body("batch", user_id, query, served)}
               for user_id in user_ids]  # fmt: skip
    return {"request_id": g.request_id, "results": results}


def user_body(placement: str, user_id: str, query: service.Query, served: ServedBundle
              ) -> dict[str, Any]:  # fmt: skip
    """A user's personalised picks, their recent store events folded in (from the bundle alone,
    and labelled so, while the store is down)."""
    fresh, forgotten, degraded = user_activity(user_id)
    ranker = routing.user_ranker(user_id, fresh, forgotten)
    return routed_body(placement, user_id, user_id, query, served, ranker, forgotten, degraded)


def routed_body(
    placement: str,
    visitor_id: str,
    user_id: str | None,
    query: service.Query,
    served: ServedBundle,
    rank: routing.Rank,
    forgotten: bool = False,
    degraded: str | None = None,
) -> dict[str, Any]:
    """The response for the visitor's variant (recsys.experiments.routing), recorded as
    `user_id`'s; a forgotten customer is routed as a new visitor."""
    found = resources()
    assignment = routing.assigned(
        found.experiments, placement, visitor_id, query, served, forgotten
    )
    answer = routing.routed(assignment, served, query, rank, found.holder.pin, g.request_id)
    return picks_body(placement, answer.picks, answer.served, assignment, user_id, degraded)


def user_activity(user_id: str) -> tuple[list[tuple[str, str]], bool, str | None]:
    """The user's recent store events as (item_id, event_type), whether they were forgotten
    (then no bundle, the serving one or a pinned one, may answer for them), and why the events
    are missing (DEGRADED_STORE while the store is down; None otherwise). The store keeps no
    events of a forgotten user, so only a user with none needs the forgotten check."""
    found = resources()
    if found.activity is not None and not found.activity.maybe_active(user_id):
        return [], False, None
    try:
        recent = found.store.recent_activity(user_id, RECENT_EVENTS)
    except StoreUnavailable:
        gone = found.watch.is_forgotten(user_id)
        if gone is None:  # a forgotten customer cannot be told apart: no personal picks
            raise found.watch.unavailable("no forgotten list was read yet") from None
        return [], gone, DEGRADED_STORE
    if recent:
        return recent, False, None
    return [], is_forgotten(user_id), None
