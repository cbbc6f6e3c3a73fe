"""GET /v1/experiments and GET /v1/experiments/{name}/report.

The experiments and the event store are the app's own (serving.resources); errors go through the
app's JSON error handler (serving/http.py).
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import NotFound

from recsys.errors import ParameterError
from recsys.experiments import Experiments
from recsys.experiments.load import report_from_store
from recsys.experiments.report import REVENUE_TESTS
from serving.resources import resources

bp = Blueprint("experiments", __name__)
REPORT_PARAMETERS = ("revenue_test", "format")
FORMATS = ("json", "html")


def configured() -> Experiments:
    return resources().experiments


@bp.get("/v1/experiments")
def list_experiments() -> Response:
    """The configured experiments: placements, variants with shares, window, audience, and
    whether each is live now."""
    return jsonify({"experiments": configured().describe()})


@bp.get("/v1/experiments/<name>/report")
def experiment_report(name: str) -> Response:
    """Live results: per variant users, impressions, CTR, add-to-cart rate, conversion, revenue
    per user and AOV with 95% intervals; differences to the control with p-values; the sample
    ratio check; a verdict. `revenue_test` welch|bootstrap, `format` json|html."""
    for parameter in request.args:
        if parameter not in REPORT_PARAMETERS:
            raise ParameterError(parameter, f"unknown parameter (known: "
                                            f"{', '.join(REPORT_PARAMETERS)})")  # fmt: skip
    revenue_test = choice("revenue_test", REVENUE_TESTS)
    form = choice("format", FORMATS)
    experiment = configured().get(name)
    if experiment is None:
        raise NotFound(f"no experiment named {name!r} (GET /v1/experiments lists them)")
    report = report_from_store(experiment, resources().store, revenue_test)
    if form == "html":
        from recsys.experiments.html import report_html

        return current_app.response_class(report_html(report), mimetype="text/html")
    return jsonify(report)


def choice(parameter: str, allowed: tuple[str, ...]) -> str:
    value = request.args.get(parameter, allowed[0])
    if value not in allowed:
        raise ParameterError(parameter, f"must be one of {', '.join(allowed)}, got {value[:40]!r}")
    return value
