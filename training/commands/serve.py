"""recsys serve: the development server (production: gunicorn "serving:create_app()")."""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="models folder (default: $RECSYS_MODELS or ./models)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def run(args: argparse.Namespace) -> int:
    from serving import create_app

    if args.models:
        os.environ["RECSYS_MODELS"] = args.models
    create_app().run(host=args.host, port=args.port, threaded=True)
    return 0
