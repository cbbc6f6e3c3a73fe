"""Data at the boundary: reading and checking logs and catalogues, numbering ids, building
matrices."""

from recsys.data.catalogue import Catalogue, load_catalogue
from recsys.data.events import Events, load_events
from recsys.data.interactions import Interactions, events_matrix, purchases_matrix
from recsys.data.vocabulary import Vocabulary

__all__ = [
    "Catalogue",
    "Events",
    "Interactions",
    "Vocabulary",
    "events_matrix",
    "load_catalogue",
    "load_events",
    "purchases_matrix",
]
