"""recsys token USER_ID: the user token a shop's backend hands its storefront, so a page with a
public key may ask for that customer's own picks (secret from $RECSYS_TOKEN_SECRET)."""

from __future__ import annotations

import argparse
import os

from recsys.access import user_token
from recsys.errors import RecsysError

SECRET_VARIABLE = "RECSYS_TOKEN_SECRET"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_id", nargs="+", help="the customer ids (one token per line)")


def run(args: argparse.Namespace) -> int:
    secret = os.environ.get(SECRET_VARIABLE, "")
    if not secret:
        raise RecsysError(f"${SECRET_VARIABLE} is not set (the server's token secret)")
    for user_id in args.user_id:
        if not user_id.strip():
            raise RecsysError("a user id is empty")
    for user_id in args.user_id:
        print(user_token(secret, user_id))
    return 0
