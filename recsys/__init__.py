"""recsys: recommendations for online shops. The API that trainer, server and notebooks share.

Names are imported on first use, so that `import recsys.errors` (the CLI, the server) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Bundle": "recsys.bundle",
    "Catalogue": "recsys.data",
    "Config": "recsys.config",
    "Events": "recsys.data",
    "Interactions": "recsys.data",
    "Recommender": "recsys.models",
    "RecsysError": "recsys.errors",
    "Vocabulary": "recsys.data",
    "build_model": "recsys.models",
    "load_catalogue": "recsys.data",
    "load_config": "recsys.config",
    "load_events": "recsys.data",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'recsys' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
