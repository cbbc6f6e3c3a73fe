"""GET /inspect: for data scientists and merchandisers (private key, or an open server): a user's
history next to each model's picks with scores and reasons, an item's similar and cross-sell lists
per model, and links to the experiments' report pages. Computed in process, from the serving
bundle and the event store, as the API would answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, render_template, request

from recsys import service
from recsys.errors import RecsysError
from recsys.service import Picks, Query, ServedBundle
from recsys_serving.access import PRIVATE
from recsys_serving.http import query_args
from recsys_serving.params import STRING, Param, accepts
from recsys_serving.resources import resources
from recsys_serving.storefront import product

bp = Blueprint("inspect", __name__)
SHOWN = 10
HISTORY = 30


@bp.get("/inspect")
@accepts(query=(Param("user", STRING, "a customer id"), Param("item", STRING, "an item id")),
         response=None, media_type="text/html", access=PRIVATE)  # fmt: skip
def inspect_page() -> str:
    """A user's history and each model's picks; an item's similar and cross-sell lists per model
    (HTML)."""
    found = resources()
    served = found.holder.served
    args = query_args()  # checked as declared (a NUL or an over-long id is a 400)
    user, item = args["user"] or "", args["item"] or ""
    models = list(served.bundle.models)
    query = Query(n=SHOWN)
    context: dict[str, Any] = {
        "version": served.version, "models": models, "user": user, "item": item,
        "key": request.args.get("key", ""), "users": [], "items": [],
        "experiments": [e.name for e in found.experiments.experiments],
    }  # fmt: skip
    if user:
        context["history"] = history(served, user, found.store.recent_events(user, HISTORY))
        context["users"] = [
            (name, listed(served, lambda m: service.for_user(served, user, query, m), name))
            for name in models
        ]
    if item:
        context["items"] = [
            (name, listed(served, lambda m: service.similar(served, item, query, m), name),
             listed(served, lambda m: service.cross_sell(served, [item], query, m), name))
            for name in models
        ]
    return render_template("inspect.html", **context)


def listed(served: ServedBundle, pick: Callable[[str], Picks], model: str) -> dict[str, Any]:
    """One model's answer: the label it answered with and its rows (or the error)."""
    try:
        picks = pick(model)
    except RecsysError as exc:
        return {"model": model, "error": str(exc), "rows": []}
    names = served.item_names
    rows = [
        {**product(served, names[i]), "score": round(score, 4), "reason": reason or ""}
        for i, score, reason in zip(picks.ranked.ids.tolist(), picks.ranked.scores.tolist(),
                                    picks.ranked.reasons, strict=True)
    ]  # fmt: skip
    return {"model": picks.model, "error": "", "rows": rows}


def history(served: ServedBundle, user: str, recent: list[Any]) -> dict[str, Any]:
    """The user's training history (most weighted first) and their events since."""
    number = served.bundle.users.index(user)
    items, weights = served.history(number)
    order = sorted(zip(items.tolist(), weights.tolist(), strict=True), key=lambda p: -p[1])
    names = served.item_names
    trained = [{**product(served, names[i]), "weight": round(w, 3)} for i, w in order[:HISTORY]]
    fresh = [{**product(served, e.item_id), "event_type": e.event_type} for e in recent]
    return {"known": number is not None, "trained": trained, "fresh": fresh}
