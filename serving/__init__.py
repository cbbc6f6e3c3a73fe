"""The recommendation server: a Flask application factory.

    recsys serve --models models              # development
    gunicorn -c serving/gunicorn.conf.py "recsys_serving:create_app()"   # production

Settings come from defaults, then $RECSYS_CONFIG, then the environment (RECSYS_MODELS,
RECSYS_DATABASE_URL, RECSYS_API_KEYS, RECSYS_PUBLIC_KEYS, RECSYS_TOKEN_SECRET,
RECSYS_FORGET_SECRET), then `test_config`. The server starts without a bundle (readyz and the
recommendation endpoints answer 503 until one is published), and with its event store down
(serving/store_watch.py: bundle-only answers, writes 503, until the store answers).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from recsys.errors import BundleError
from recsys.eventstore import EventStore, open_store
from recsys.experiments import Experiments
from recsys.service.live import LiveItems
from recsys_serving import (
    access,
    events_api,
    experiments_api,
    inspect,
    items_api,
    ops,
    picks_api,
    storefront,
)  # fmt: skip
from recsys_serving.activity import ActivityMap
from recsys_serving.http import EntityPath, register_errors, utf8_path
from recsys_serving.jsonio import OrjsonProvider
from recsys_serving.limits import register_limits
from recsys_serving.live_catalogue import LiveCatalogue
from recsys_serving.live_experiments import LiveExperiments
from recsys_serving.observe import Metrics, WorkerStatus, register_observers, setup_access_log
from recsys_serving.resources import Resources, bundle_swapped, check_experiments
from recsys_serving.settings import Settings, load_settings
from recsys_serving.state import BundleHolder, ProcessLocal, ServedLog, Watcher
from recsys_serving.store_watch import StoreWatch

log = logging.getLogger("recsys.server")


def apply_privacy(store: EventStore, settings: Settings) -> None:
    """At start-up: the retention limit, and a store whose forgotten list this server cannot
    read (no forget secret) refused rather than serving those customers again."""
    if settings.forget_key is None:
        store.forgotten()  # ForgetSecretError when the store has forgotten customers
        log.warning('{"event": "forget_secret_missing", "reason": "RECSYS_FORGET_SECRET is '
                    'unset: DELETE /v1/users/{id} answers 503 until it is set"}')  # fmt: skip
    days = settings.config.server.retention_days
    if days > 0:
        purged = store.purge(time.time() - days * 86_400)
        log.info('{"event": "retention_purge", "days": %s, "rows": %d}', days, purged)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_settings(test_config)
    server = settings.config.server
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=server.max_body_bytes, RECSYS=settings)
    app.json = OrjsonProvider(app)
    setup_access_log()
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    metrics = Metrics()
    metrics.add_collector(WorkerStatus(settings.models_dir))
    store = open_store(settings.database_url, settings.forget_key, unreachable_ok=True)
    # the privacy checks refuse to start (ForgetSecretError), or wait for an unreachable store
    deferred = partial(apply_privacy, store, settings) if store.outage.down else None
    if deferred is None:
        apply_privacy(store, settings)
    store_watch = StoreWatch(store, deferred, metrics.store_available.set, metrics.thread_error)
    store_watch.refresh()  # reads the forgotten list, if the store is reachable
    experiments = Experiments(settings.config.experiments)
    live_items = LiveItems()
    holder = BundleHolder(
        settings.models_dir, lambda old, new: bundle_swapped(app, old, new), live_items
    )
    check_experiments(experiments, holder)  # loads the versions variants pin
    watcher = Watcher(holder, server.watch_seconds if settings.watch else 0, metrics.thread_error)
    served_log = ServedLog(store, settings.served_log, metrics.served_dropped.inc,
                           on_error=metrics.thread_error)  # fmt: skip
    live = LiveExperiments(  # adds the stored experiments (POST /admin/experiments)
        experiments, store, server.experiments_refresh_seconds,
        lambda current: setattr(app.extensions["recsys"], "experiments", current),
        lambda experiment: check_experiments(Experiments([experiment]), holder),
        metrics.thread_error,
    )  # fmt: skip
    catalogue = LiveCatalogue(store, server.catalogue_refresh_seconds, live_items, holder.loaded)

    def start_threads() -> None:
        store_watch.start()
        served_log.start()
        watcher.start()
        live.start()
        catalogue.start()
        threading.Thread(target=warm, name="recsys-warm", daemon=True).start()

    def warm() -> None:  # a forked worker maps in the pages its requests will touch
        holder.warm()
        if activity is not None:
            activity.warm()

    activity = ActivityMap.for_store(settings.database_url, store)
    app.extensions["recsys"] = Resources(
        settings, holder, store, experiments, metrics, served_log, ProcessLocal(start_threads),
        store_watch, activity, catalogue,
    )  # fmt: skip
    app.extensions["recsys.experiments"] = live
    live.refresh()
    catalogue.refresh()
    try:
        holder.reload()
    except BundleError as exc:
        log.warning('{"event": "no_bundle", "reason": %r}', str(exc))
    watcher.check()  # remembers CURRENT as seen, so the first tick does not reload it again

    register_errors(app)
    register_observers(
        app, metrics, server.cors_origins, settings.forget_key, server.log_user_ids
    )
    app.before_request(utf8_path)
    access.register_access(app)
    if settings.behind_front:  # the client's address as nginx saw it (X-Forwarded-For it sets)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)  # type: ignore[method-assign]
    register_limits(app, server.rate_limit, server.rate_limit_storage)
    app.url_map.converters["entity"] = EntityPath
    blueprints = (picks_api.bp, events_api.bp, ops.bp, experiments_api.bp, items_api.bp,
                  storefront.bp, inspect.bp)  # fmt: skip
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    return app
