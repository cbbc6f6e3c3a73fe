"""recsys: recommendations for online shops. The API that trainer, server and notebooks share."""

from recsys.bundle import Bundle
from recsys.config import Config, load_config
from recsys.data import Catalogue, Events, Interactions, Vocabulary, load_catalogue, load_events
from recsys.errors import RecsysError
from recsys.models import Recommender, build_model

__all__ = ["Bundle", "Catalogue", "Config", "Events", "Interactions", "Recommender", "RecsysError",
           "Vocabulary", "build_model", "load_catalogue", "load_config", "load_events"]
