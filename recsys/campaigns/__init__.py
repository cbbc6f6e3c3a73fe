"""Email campaigns: customer segments (RFM and lifecycle) and batch picks for every customer."""

from recsys.campaigns.audience import Audience, build_audience, choose_ids
from recsys.campaigns.export import ExportReport, ExportRules, export_picks
from recsys.campaigns.segments import (
    SEGMENTS,
    SegmentsConfig,
    compute_segments,
    segments_config,
    summarise,
)
from recsys.campaigns.tables import (
    AtomicWriter,
    read_history,
    read_segments_file,
    read_user_ids,
    write_table,
)

__all__ = [
    "SEGMENTS",
    "AtomicWriter",
    "Audience",
    "ExportReport",
    "ExportRules",
    "SegmentsConfig",
    "build_audience",
    "choose_ids",
    "compute_segments",
    "export_picks",
    "read_history",
    "read_segments_file",
    "read_user_ids",
    "segments_config",
    "summarise",
    "write_table",
]
