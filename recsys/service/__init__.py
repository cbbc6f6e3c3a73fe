"""The picks logic of the server, free of HTTP: filters, fallbacks, fold-in, blending, diversity."""

from recsys.service.arrivals import new_arrivals
from recsys.service.cross_sell import cross_sell
from recsys.service.picks import for_user, popular, session, similar
from recsys.service.query import Picks, Query, Ranked
from recsys.service.served import ServedBundle

__all__ = [
    "Picks",
    "Query",
    "Ranked",
    "ServedBundle",
    "cross_sell",
    "for_user",
    "new_arrivals",
    "popular",
    "session",
    "similar",
]
