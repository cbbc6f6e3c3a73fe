"""Who gets an email and what each of them may not receive, as arrays over the export's customers.

What each rule needs:
- recently bought (`recent_days`): the events (`--events`); without them every purchase in the
  bundle's purchase matrix counts as recent (the safe side).
- cart abandoners: the events (add_to_cart after the latest purchase, within `[segments]
  cart_days`); without them nobody is treated as an abandoner.
- segments (`--segment`, and the favourite categories of customers with no history): a
  `recsys segments` file, or the events to compute them on the fly.
- earlier campaigns: `--history DIR`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.campaigns.activity import abandoned_carts, recent_purchases
from recsys.campaigns.segments import SEGMENTS
from recsys.data.events import Events
from recsys.errors import InputError


@dataclass
class Audience:
    """Row r of every array is customer ids[r]; matrices are over the bundle's item numbers."""

    ids: pa.Array  # external customer ids, in export order
    rows: np.ndarray  # bundle user numbers (-1: not in the bundle)
    segment: np.ndarray  # codes into SEGMENTS (-1: unknown)
    exclude: sp.csr_matrix  # recently bought or picked in an earlier campaign
    abandoned: sp.csr_matrix  # abandoned cart items, value = latest cart time

    def __len__(self) -> int:
        return len(self.ids)


def choose_ids(
    bundle: Bundle,
    users: pa.Array | None,
    segment: str | None,
    segments: pa.Table | None,
    events: Events | None,
) -> pa.Array:
    """The export's customers: the given list, else the members of `segment`, else everyone the
    bundle (and the events) know."""
    if users is not None:
        return users
    if segment is not None:
        if segments is None:
            raise InputError("--segment", "needs --segments FILE or --events PATH")
        if segment not in SEGMENTS:
            raise InputError("--segment", f"unknown segment {segment!r} ({', '.join(SEGMENTS)})")
        members = (
            segments.column(segment).cast(pa.bool_())
            if segment in segments.column_names
            else pc.equal(segments.column("segment"), segment)
        )
        return segments.column("user_id").filter(members).combine_chunks().cast(pa.string())
    if events is not None:
        return bundle.users.extend(events.users.arrow).arrow
    return bundle.users.arrow


def build_audience(
    bundle: Bundle,
    ids: pa.Array,
    recent_days: float,
    cart_days: float,
    events: Events | None = None,
    segments: pa.Table | None = None,
    history: pa.Table | None = None,
) -> Audience:
    rows = bundle.users.encode(ids)
    n_items = len(bundle.items)
    if events is not None:
        bought = recent_purchases(events, recent_days)
        user_map = position(events.users.arrow, ids)
        item_map = bundle.items.encode(events.items.arrow)
        recent = remap(bought, user_map, item_map, (len(ids), n_items))
        carts = abandoned_carts(events, cart_days)
        abandoned = remap(carts, user_map, item_map, (len(ids), n_items))
    else:
        user_map = position(bundle.users.arrow, ids)
        recent = remap(bundle.purchased, user_map, np.arange(n_items), (len(ids), n_items))
        abandoned = sp.csr_matrix((len(ids), n_items), dtype=np.float64)
    exclude = recent
    if history is not None and history.num_rows:
        users = position(history.column("user_id"), ids)
        items = bundle.items.encode(history.column("item_id"))
        known = (users >= 0) & (items >= 0)
        picked = sp.csr_matrix(
            (np.ones(int(known.sum()), np.float32), (users[known], items[known])),
            shape=(len(ids), n_items),
        )
        exclude = exclude + picked
    exclude = exclude.tocsr()
    exclude.sum_duplicates()
    exclude.data[:] = 1.0
    return Audience(ids, rows, segment_codes(ids, segments), exclude.astype(np.float32), abandoned)


def position(values: pa.Array | pa.ChunkedArray, ids: pa.Array) -> np.ndarray:
    """For each of `values`, its position in `ids` (-1 if absent)."""
    found = pc.index_in(values, value_set=ids)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), np.int64)


def remap(
    matrix: sp.csr_matrix, row_map: np.ndarray, col_map: np.ndarray, shape: tuple[int, int]
) -> sp.csr_matrix:
    """`matrix` renumbered: row i -> row_map[i], column j -> col_map[j]; -1 entries dropped."""
    coo = matrix.tocoo()
    rows, cols = row_map[coo.row], col_map[coo.col]
    keep = (rows >= 0) & (cols >= 0)
    out = sp.csr_matrix((coo.data[keep], (rows[keep], cols[keep])), shape=shape)
    out.sum_duplicates()
    return out


def segment_codes(ids: pa.Array, segments: pa.Table | None) -> np.ndarray:
    if segments is None:
        return np.full(len(ids), -1, np.int64)
    where = position(ids, segments.column("user_id").combine_chunks().cast(pa.string()))
    labels = segments.column("segment").combine_chunks().cast(pa.string())
    codes = position(labels, pa.array(SEGMENTS, pa.string()))
    return np.where(where >= 0, codes[np.maximum(where, 0)], -1)
