"""recsys forget: forget customers from a shop's back office, as DELETE /v1/users/{id} does."""

from __future__ import annotations

import argparse

from recsys.eventstore import StoreError, open_store
from recsys_training.commands.common import DATABASE_ENV, forget_key, store_url


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user_ids", nargs="+", metavar="USER_ID", help="customer ids to forget")
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"the server's event store (default: ${DATABASE_ENV}, else ./recsys.db)",
    )


def run(args: argparse.Namespace) -> int:
    """Deletes their events and served responses and adds them to the forgotten list (keyed with
    RECSYS_FORGET_SECRET). Servers stop serving them personal picks on their next request;
    bundles still hold them until the next training."""
    url = store_url(args.db)
    if url is None:
        raise StoreError(f"no event store: pass --db URL or set {DATABASE_ENV}")
    with open_store(url, forget_key()) as store:
        deleted = sum(store.forget_user(user_id) for user_id in dict.fromkeys(args.user_ids))
        print(f"forgot {len(set(args.user_ids)):,} customers in {store.shown_url}: deleted "
              f"{deleted:,} stored rows; bundles hold them until the next training")  # fmt: skip
    return 0
