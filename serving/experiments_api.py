"""GET /v1/experiments and GET /v1/experiments/{name}/report; POST /admin/experiments and
DELETE /admin/experiments/{name} (API key) for experiments defined at run time.

The experiments and the event store are the app's own (recsys_serving.resources, followed by
recsys_serving.live_experiments); errors go through the app's JSON error handler (serving/http.py).
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from werkzeug.exceptions import Conflict, NotFound

from recsys.errors import ConfigError
from recsys.experiments import ExperimentConfig, Experiments
from recsys.experiments.config import AUDIENCES, MODES, PLACEMENTS, iso
from recsys.experiments.load import report_from_store
from recsys.experiments.report import REVENUE_TESTS
from recsys.experiments.stored import definition_config, parameter_errors, read_definition
from recsys_serving.access import PRIVATE
from recsys_serving.http import body_args, query_args
from recsys_serving.live_experiments import LiveExperiments
from recsys_serving.params import NUMBER, OBJECTS, STRING, STRINGS, TIME, Param, accepts
from recsys_serving.resources import resources

bp = Blueprint("experiments", __name__)
FORMATS = ("json", "html")
VARIANT = {
    "type": "object",
    "required": ["name", "share"],
    "properties": {
        "name": {"type": "string", "minLength": 1},
        "share": {"type": "number", "minimum": 0, "maximum": 1},
        "model": {"type": "string", "description": "a model of the bundle"},
        "bundle": {"type": "string", "description": "a bundle version (default: CURRENT)"},
        "strategy": {"type": "string", "description": "model+param=value+..., e.g. "
                                                      "als+diversity=0.3"},
        "params": {"type": "object", "additionalProperties": {"type": "number"}},
    },
}  # fmt: skip
TABLE = (  # one [[experiments]] table (recsys.experiments.config), checked by read_definition
    Param("name", STRING, "1 to 100 letters, digits, '.', '_' or '-'", required=True),
    Param("placements", STRINGS, "endpoints it covers", choices=PLACEMENTS),
    Param("salt", STRING, "default: the name; a new salt reshuffles the users"),
    Param("mode", STRING, "split or interleave", choices=MODES),
    Param("control", STRING, "the control variant (default: the first)"),
    Param("start", TIME, "ISO-8601 or Unix seconds"),
    Param("end", TIME, "ISO-8601 or Unix seconds"),
    Param("audience", STRING, "who takes part", choices=AUDIENCES),
    Param("segment", STRING, "only visitors in this segment"),
    Param("attribution_hours", NUMBER, "events this long after a response count", low=0),
    Param("variants", OBJECTS, "at least two", required=True, item_schema=VARIANT, min_items=2),
)
DESCRIBED = {"type": "object", "required": ["name", "active", "source"],
             "properties": {"name": {"type": "string"}, "active": {"type": "boolean"},
                            "source": {"type": "string", "enum": ["config", "admin"]}}}  # fmt: skip
LISTED = {"type": "object", "required": ["experiments"],
          "properties": {"experiments": {"type": "array", "items": DESCRIBED}}}  # fmt: skip
UNKNOWN = ((404, "no such experiment"),)


def configured() -> Experiments:
    return resources().experiments


def live_experiments() -> LiveExperiments:
    resources()  # starts this process's threads
    found: LiveExperiments = current_app.extensions["recsys.experiments"]
    return found


@bp.get("/v1/experiments")
@accepts(response=LISTED, access=PRIVATE)
def list_experiments() -> Response:
    """The experiments, the config file's first: placements, variants with shares, window,
    audience, whether each is live now, and `source` (config, or admin for those defined through
    POST /admin/experiments)."""
    source = live_experiments().source
    experiments = configured().experiments
    return jsonify({"experiments": [described(e, source(e.name)) for e in experiments]})


@bp.post("/admin/experiments")
@accepts(body=TABLE, status=201, response=DESCRIBED,
         errors=((409, "the name is taken"),))  # fmt: skip
def create_experiment() -> tuple[Response, int]:
    """Define an experiment (API key): the body is one [[experiments]] table as JSON, checked as
    the config file's are (variants name models of the config or of the serving bundle). Every
    worker serves it within server.experiments_refresh_seconds. It never changes: to change it,
    stop it and create another under a new name (names are never reused)."""
    body = body_args()
    experiment = read_definition(body, servable_models())
    live = live_experiments()
    with parameter_errors("experiments[0]"):  # the check names keys as in a config of one
        live.check(experiment)
    name = experiment.name
    if name in live.configured or not live.store.add_experiment(name, body, time.time()):
        raise Conflict(f"an experiment named {name!r} exists already; names are never reused, "
                       "not even a stopped experiment's: choose another name")  # fmt: skip
    live.refresh()
    return jsonify(described(experiment, "admin")), 201


def servable_models() -> set[str]:
    """The models a new experiment's variants may name: the config's and the serving bundle's."""
    found = resources()
    models = set(found.settings.config.models)
    if found.holder.ready:
        models |= set(found.holder.served.bundle.models)
    return models


@bp.delete("/admin/experiments/<name>")
@accepts(response=DESCRIBED,
         errors=(*UNKNOWN, (409, "defined in the config file")))  # fmt: skip
def stop_experiment(name: str) -> dict[str, Any]:
    """Stop an experiment defined through POST /admin/experiments (API key): it ends now, stays
    listed, and its report keeps working. 409 for one of the config file."""
    live = live_experiments()
    if name in live.configured:
        raise Conflict(f"experiment {name!r} is defined in the config file: edit the config file "
                       "(set its end) to stop it")  # fmt: skip
    stored = live.store.stop_experiment(name, time.time())
    if stored is None:
        raise NotFound(f"no experiment named {name!r} (GET /v1/experiments lists them)")
    live.refresh()
    try:
        return described(definition_config(stored), "admin")
    except ConfigError:  # stored by an earlier version and no longer served: stopped all the same
        return {"name": name, "end": iso(stored.stopped), "active": False, "source": "admin"}


def described(experiment: ExperimentConfig, source: str) -> dict[str, Any]:
    """As GET /v1/experiments lists it."""
    return {**experiment.to_dict(), "active": experiment.active(time.time()), "source": source}


@bp.get("/v1/experiments/<name>/report")
@accepts(query=(Param("revenue_test", STRING, "the revenue test", choices=REVENUE_TESTS),
                Param("format", STRING, "json or html", choices=FORMATS)),
         errors=UNKNOWN, access=PRIVATE)  # fmt: skip
def experiment_report(name: str) -> Response:
    """Live results: per variant users, impressions, CTR, add-to-cart rate, conversion, revenue
    per user and AOV with 95% intervals; differences to the control with p-values; the sample
    ratio check; a verdict. `revenue_test` welch|bootstrap, `format` json|html."""
    args = query_args()
    revenue_test = args["revenue_test"] or REVENUE_TESTS[0]
    form = args["format"] or FORMATS[0]
    experiment = configured().get(name)
    if experiment is None:
        raise NotFound(f"no experiment named {name!r} (GET /v1/experiments lists them)")
    report = report_from_store(experiment, resources().store, revenue_test)
    if form == "html":
        from recsys.experiments.html import report_html

        return current_app.response_class(report_html(report), mimetype="text/html")
    return jsonify(report)
