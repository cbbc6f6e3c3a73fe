"""The storefront: GET /widget.js (serving/static/widget.js, committed as it runs) and the demo shop
(GET /demo, /demo/product, /demo/cart), plain HTML pages whose cards the widget renders.

A demo page holds what a shop's own page would: the first public key (none on an open server
without one) and, for the chosen demo customer, their user token, made here as a shop's backend
would (recsys.access)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, render_template

from recsys.access import user_token
from recsys.errors import NoModelError
from recsys.service import ServedBundle
from recsys.service.items import item_view
from recsys_serving.access import NONE
from recsys_serving.http import query_args
from recsys_serving.params import IDS, STRING, Param, accepts
from recsys_serving.resources import resources

bp = Blueprint("storefront", __name__)
STATIC = Path(__file__).parent / "static"
DEMO_USERS = 5
MAX_CART = 20
PAGE = {"response": None, "media_type": "text/html", "access": NONE}
DEMO_QUERY = (Param("user", STRING, "the demo customer (none: an anonymous visitor)"),
              Param("item", STRING, "the product shown"),
              Param("items", IDS, "the cart", default=(), max_items=MAX_CART))  # fmt: skip


@bp.get("/widget.js")
@accepts(response=None, media_type="text/javascript", access=NONE)
def widget() -> Response:
    """The embeddable storefront widget, an ES module (docs/storefront.md)."""
    response = static_file("widget.js", "text/javascript")
    response.headers["Access-Control-Allow-Origin"] = "*"  # a module script loads with CORS
    return response


@bp.get("/demo/demo.css")
@accepts(response=None, media_type="text/css", access=NONE)
def demo_css() -> Response:
    """The demo shop's stylesheet."""
    return static_file("demo.css", "text/css")


def static_file(name: str, mimetype: str) -> Response:
    """A file of serving/static (a few kB, read per request: no open file left to the client)."""
    response = Response((STATIC / name).read_bytes(), mimetype=mimetype)
    response.cache_control.public, response.cache_control.max_age = True, 300
    return response


@bp.get("/demo")
@accepts(query=DEMO_QUERY, **PAGE)
def demo() -> str:
    """The demo shop's home page: for you, session picks, popular, new arrivals (HTML)."""
    return page("home", "Home")


@bp.get("/demo/product")
@accepts(query=DEMO_QUERY, **PAGE)
def demo_product() -> str:
    """A demo product page (item=): similar items, frequently bought together (HTML)."""
    return page("product", "Product")


@bp.get("/demo/cart")
@accepts(query=DEMO_QUERY, **PAGE)
def demo_cart() -> str:
    """A demo cart (items=): cross-sell of the basket (HTML)."""
    return page("cart", "Cart")


def page(name: str, title: str) -> str:
    found = resources()
    settings = found.settings
    try:
        served: ServedBundle | None = found.holder.served
    except NoModelError:
        served = None
    args = query_args()
    user, cart = args["user"] or "", list(args["items"])
    key = settings.public_keys[0] if settings.public_keys else ""
    signed = bool(user and key and settings.token_secret)
    token = user_token(settings.token_secret, user) if signed else ""
    users = served.bundle.users.arrow[:DEMO_USERS].to_pylist() if served is not None else []
    context: dict[str, Any] = {
        "page": name, "page_title": title, "user": user, "token": token, "key": key,
        "users": users, "cart": cart, "notice": notice(served, key, settings),
        "keep": {"item": args["item"] or "", "items": ",".join(cart)},
        "link": "/demo/product?item={item_id}" + (f"&user={quote(user, safe='')}" if user else ""),
    }  # fmt: skip
    if name == "product":
        context["product"] = product(served, args["item"] or "")
    if name == "cart":
        context["products"] = [product(served, item) for item in cart]
    return render_template("demo.html", **context)


def notice(served: ServedBundle | None, key: str, settings: Any) -> str:
    if served is None:
        return "No model bundle is loaded yet: train one (make run does); the cards appear then."
    if not key and not settings.config.server.open:
        return ("This server is closed and has no public key: set [server] public_keys (or "
                "RECSYS_PUBLIC_KEYS) for the widget, or run it open.")  # fmt: skip
    if key and not settings.token_secret:
        return "No RECSYS_TOKEN_SECRET: the page cannot show a customer's own picks."
    return ""


def product(served: ServedBundle | None, item_id: str) -> dict[str, Any]:
    """An item's title, category and price as the server knows them now (the id when unknown)."""
    found = item_view(served, item_id) if served is not None and item_id else None
    if found is None:
        return {"item_id": item_id, "title": item_id, "category": "", "price": None}
    return {**found, "title": found.get("title") or item_id}
