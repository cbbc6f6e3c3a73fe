"""A real browser on the demo shop: headless Chromium (Debian's chromium and chromium-driver, driven
by Selenium with the driver's path given and Selenium Manager's telemetry off, so nothing reaches
the internet) loads /demo from a real server holding a public key and a token secret. Every widget
renders its cards; the impressions and the click arrive in the event store with the request_id of
the response that was shown; the experiment's report counts them; no console errors. Screenshots
of the pages go to benchmarks/results/ (not committed)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import ROOT, Server, served_copy

from recsys.eventstore import open_store

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
PRIVATE, PUBLIC, SECRET = "priv-browser-01", "pub-browser-01", "browser-token-secret"
SHOTS = ROOT / "benchmarks" / "results"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--window-size=1280,2400")  # fmt: skip
CONFIG = f"""
[server]
api_keys = ["{PRIVATE}"]
public_keys = ["{PUBLIC}"]

[[experiments]]
name = "home"
placements = ["recommendations"]
salt = "browser"
variants = [ {{ name = "A", model = "als", share = 0.5 }},
             {{ name = "B", model = "popular", share = 0.5 }} ]
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM.exists() and DRIVER.exists()):
        pytest.skip("headless Chromium is absent: apt-get install chromium chromium-driver "
                    "(.ci/run does)")  # fmt: skip
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium (the dev extra)")
    os.environ["SE_AVOID_STATS"] = "true"  # Selenium Manager: no telemetry (and it is not run)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(DRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def demo_shop(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser-server")
    env = {"RECSYS_TOKEN_SECRET": SECRET}
    with served_copy(folder, models_dir, CONFIG, workers=1, env=env) as found:
        yield found


def settled(driver: Any, timeout: float = 20) -> list[dict[str, str]]:
    """Each widget container's kind, state, request id and card count, once none is loading."""
    script = """return [...document.querySelectorAll('[data-recsys]')].map(n => ({
        kind: n.dataset.recsys, state: n.dataset.recsysState || '',
        request: n.dataset.requestId || '',
        cards: String(n.querySelectorAll('.recsys__card').length),
        impression: n.dataset.recsysImpression || ''}))"""
    deadline = time.monotonic() + timeout
    while True:
        found = driver.execute_script(script)
        done = all(c["state"] not in ("", "loading") for c in found)
        seen = all(c["impression"] == "sent" for c in found if c["state"] == "shown")
        if (done and seen) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def console_errors(driver: Any) -> list[str]:
    return [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]


def events_of(shop: Server, user: str, wanted: int, timeout: float = 10) -> list[Any]:
    store = open_store(shop.database_url)
    deadline = time.monotonic() + timeout
    while True:
        events = store.recent_events(user, 500)
        if len(events) >= wanted or time.monotonic() > deadline:
            return events
        time.sleep(0.2)


def test_the_demo_shop_renders_records_and_reports(browser: Any, demo_shop: Server) -> None:
    shop = demo_shop
    SHOTS.mkdir(parents=True, exist_ok=True)
    user = shop.user
    browser.get(f"{shop.base}/demo?user={user}")
    home = settled(browser)
    kinds = {c["kind"]: c for c in home}
    assert {"recommendations", "popular", "session"} <= set(kinds)
    assert "new-arrivals" in kinds
    for container in home:
        assert container["state"] == "shown" and int(container["cards"]) > 0, container
    browser.save_screenshot(str(SHOTS / "demo-home.png"))
    shown = kinds["recommendations"]
    recorded = events_of(shop, user, int(shown["cards"]))
    impressions = [e for e in recorded if e.event_type == "impression"
                   and e.request_id == shown["request"]]  # fmt: skip
    assert len(impressions) == int(shown["cards"])

    first = browser.find_element("css selector", '[data-recsys="recommendations"] .recsys__link')
    clicked = first.find_element("xpath", "..").get_attribute("data-item-id")
    first.click()  # the beacon goes out as the product page loads
    product = settled(browser)
    assert {c["kind"] for c in product} == {"similar", "cross-sell"}
    assert all(c["state"] == "shown" and int(c["cards"]) > 0 for c in product), product
    browser.save_screenshot(str(SHOTS / "demo-product.png"))
    clicks = [e for e in events_of(shop, user, len(impressions) + 1)
              if e.event_type == "click" and e.request_id == shown["request"]]  # fmt: skip
    assert [e.item_id for e in clicks] == [clicked]

    browser.find_element("css selector", ".product__buy").click()
    cart = settled(browser)
    assert [c["kind"] for c in cart] == ["cross-sell"] and int(cart[0]["cards"]) > 0
    browser.save_screenshot(str(SHOTS / "demo-cart.png"))

    report = shop.call("GET", "/v1/experiments/home/report", headers={"X-API-Key": PRIVATE})[1]
    variants = report["variants"]
    counted = {name: (v["impressions"], v["clicks"]) for name, v in variants.items()}
    assert sum(i for i, _ in counted.values()) >= len(impressions), counted
    assert sum(c for _, c in counted.values()) >= 1, counted
    browser.get(f"{shop.base}/inspect?user={user}&item={clicked}&key={PRIVATE}")
    assert "similar_to:" in browser.page_source or "viewed:" in browser.page_source
    browser.save_screenshot(str(SHOTS / "inspect.png"))

    assert console_errors(browser) == []
