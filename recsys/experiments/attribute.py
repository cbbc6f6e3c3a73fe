"""Attribution: which variant earned each event.

Inputs are plain pyarrow tables, as the event store returns them: `served` (request_id, user_id,
placement, experiment, variant, model, item_ids, timestamp; one row per recommendation response) and
`events` (user_id, item_id, event_type, timestamp, quantity, price, order_id, request_id, ...).

- A visitor (user_id, else the response's request_id) belongs to the first variant that served
  them; later responses from another variant (a changed split) are left out and counted.
- An event carrying the request_id of a response counts for that response's variant when it
  happens within the attribution window after the response; a purchase only when its buyer is
  the visitor the response was for (someone else's request_id earns nothing).
- A purchase without such a request_id still counts when the buyer was served that item by the
  experiment within the window before buying ("view-through" attribution).

The joins are vectorised (pyarrow, numpy); only view-through purchases are matched one by one.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ATTRIBUTED_TYPES = ("impression", "click", "add_to_cart", "purchase")


@dataclass(frozen=True)
class Attribution:
    """Visitors (numbered) with their variant and first exposure, responses per variant, and the
    attributed events: a table of unit (visitor number), variant, event_type, item_id,
    request_id, timestamp, revenue, order."""

    unit_ids: pa.Array  # visitor id per number
    unit_variant: np.ndarray  # variant name per visitor
    first_seen: np.ndarray  # first response per visitor (Unix s)
    responses: dict[str, int]
    events: pa.Table
    crossovers: int  # visitors served by more than one variant

    def units_of(self, variant: str) -> np.ndarray:
        return np.flatnonzero(self.unit_variant == variant)

    def events_of(self, variant: str, *kinds: str) -> pa.Table:
        mask = pc.equal(self.events.column("variant"), variant)
        if kinds:
            mask = pc.and_(mask, pc.is_in(self.events.column("event_type"), pa.array(kinds)))
        return self.events.filter(mask)


def column(table: pa.Table, name: str, default: object = None) -> list:
    """A column as a Python list (a list of `default` when the table lacks it)."""
    if name in table.column_names:
        return table.column(name).to_pylist()
    return [default] * table.num_rows


def array(table: pa.Table, name: str, kind: pa.DataType) -> pa.Array:
    """A column as one array of `kind` (nulls when the table lacks it)."""
    if name not in table.column_names:
        return pa.nulls(table.num_rows, kind)
    values = table.column(name)
    return (values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values).cast(kind)


@dataclass(frozen=True)
class Responses:
    """The kept responses in time order, with their visitor numbers."""

    request_id: pa.Array
    unit: np.ndarray
    variant: np.ndarray
    timestamp: np.ndarray
    items: pa.Array  # list<string> per response


def served_responses(served: pa.Table, experiment: str | None) -> tuple[Responses, pa.Array, int]:
    """The responses of `experiment` (first variant per visitor only), the visitor ids (numbered
    in order of first response), and how many visitors more than one variant served."""
    keep = pc.and_(pc.is_valid(array(served, "variant", pa.string())),
                   pc.is_valid(array(served, "request_id", pa.string())))  # fmt: skip
    if experiment:
        keep = pc.and_(keep, pc.equal(array(served, "experiment", pa.string()), experiment))
    table = served.filter(pc.fill_null(keep, False))
    table = table.take(pc.sort_indices(array(table, "timestamp", pa.float64())))  # stable sort
    request_id = array(table, "request_id", pa.string())
    units = pc.dictionary_encode(pc.coalesce(array(table, "user_id", pa.string()), request_id))
    unit = units.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    variants = pc.dictionary_encode(array(table, "variant", pa.string()))
    variant_code = variants.indices.to_numpy(zero_copy_only=False)
    _, first = np.unique(unit, return_index=True)  # numbers follow first appearance: sorted
    kept = variant_code == variant_code[first][unit]
    crossovers = len(np.unique(unit[~kept]))
    rows = np.flatnonzero(kept)
    names = np.asarray(variants.dictionary.to_pylist(), dtype=object)
    responses = Responses(
        request_id.take(pa.array(rows)), unit[rows], names[variant_code[rows]],
        array(table, "timestamp", pa.float64()).to_numpy(zero_copy_only=False)[rows],
        array(table, "item_ids", pa.list_(pa.string())).take(pa.array(rows)),
    )  # fmt: skip
    return responses, units.dictionary, crossovers


def attribute(
    served: pa.Table, events: pa.Table, window_hours: float, experiment: str | None = None
) -> Attribution:
    """Joins `events` to the `served` responses of `experiment` (every row when None)."""
    responses, unit_ids, crossovers = served_responses(served, experiment)
    window = window_hours * 3600.0
    kinds = array(events, "event_type", pa.string())
    times = array(events, "timestamp", pa.float64()).to_numpy(zero_copy_only=False)
    candidates = pc.fill_null(pc.is_in(kinds, pa.array(ATTRIBUTED_TYPES)), False)
    position = pc.index_in(array(events, "request_id", pa.string()), value_set=responses.request_id)
    matched = np.asarray(pc.fill_null(position, -1).to_numpy(zero_copy_only=False), np.int64)
    ok = (matched >= 0) & np.asarray(candidates)
    ok[ok] = times[ok] <= responses.timestamp[matched[ok]] + window
    purchases = np.asarray(pc.fill_null(pc.equal(kinds, "purchase"), False))
    claimed = np.flatnonzero(ok & purchases)
    ok[claimed] = same_visitor(events, claimed, responses.unit[matched[claimed]], unit_ids)
    matched[~ok] = -1
    unclaimed = np.flatnonzero(purchases & (matched < 0))
    matched[unclaimed] = view_through(events, unclaimed, responses, unit_ids, window)
    rows = np.flatnonzero(matched >= 0)
    return Attribution(
        unit_ids,
        first_variants(responses, len(unit_ids)),
        first_times(responses, len(unit_ids)),
        dict(zip(*np.unique(responses.variant.astype(str), return_counts=True), strict=True)),
        attributed_table(events, rows, matched[rows], responses, unit_ids),
        crossovers,
    )


def same_visitor(
    events: pa.Table, rows: np.ndarray, units: np.ndarray, unit_ids: pa.Array
) -> np.ndarray:
    """Per event row, whether its user_id is the visitor of the response it names."""
    if not len(rows):
        return np.zeros(0, bool)
    users = array(events, "user_id", pa.string()).take(pa.array(rows, pa.int64()))
    visitors = unit_ids.take(pa.array(units, pa.int64()))
    return np.asarray(pc.fill_null(pc.equal(users, visitors), False))


def first_variants(responses: Responses, n_units: int) -> np.ndarray:
    variants = np.empty(n_units, dtype=object)
    variants[responses.unit[::-1]] = responses.variant[::-1]  # the earliest write wins
    return variants


def first_times(responses: Responses, n_units: int) -> np.ndarray:
    first = np.full(n_units, np.inf)
    np.minimum.at(first, responses.unit, responses.timestamp)
    return first


def view_through(
    events: pa.Table,
    rows: np.ndarray,
    responses: Responses,
    unit_ids: pa.Array,
    window: float,
) -> np.ndarray:
    """For each purchase row: the latest response that showed the bought item to the buyer within
    the window before buying, or -1."""
    found = np.full(len(rows), -1, np.int64)
    if not len(rows):
        return found
    picked = events.take(pa.array(rows))
    buyers = pc.index_in(array(picked, "user_id", pa.string()), value_set=unit_ids)
    numbers = np.asarray(pc.fill_null(buyers, -1).to_numpy(zero_copy_only=False), np.int64)
    by_unit: dict[int, list[tuple[float, int]]] = {}
    for position in np.flatnonzero(np.isin(responses.unit, numbers[numbers >= 0])):
        by_unit.setdefault(int(responses.unit[position]), []).append(
            (float(responses.timestamp[position]), int(position))
        )
    bought = zip(numbers.tolist(), column(picked, "item_id"), column(picked, "timestamp"),
                 strict=True)  # fmt: skip
    for i, (buyer, item, when) in enumerate(bought):
        times = by_unit.get(buyer, [])
        end = bisect.bisect_right(times, (float(when), len(responses.unit)))
        for served_at, position in reversed(times[:end]):
            if served_at < float(when) - window:
                break
            if item in (responses.items[position].as_py() or ()):
                found[i] = position
                break
    return found


def attributed_table(
    events: pa.Table,
    rows: np.ndarray,
    positions: np.ndarray,
    responses: Responses,
    unit_ids: pa.Array,
) -> pa.Table:
    picked = events.take(pa.array(rows, pa.int64()))
    kinds = array(picked, "event_type", pa.string())
    is_purchase = pc.fill_null(pc.equal(kinds, "purchase"), False)
    quantity = pc.fill_null(array(picked, "quantity", pa.float64()), 1.0)
    revenue = pc.if_else(is_purchase, pc.multiply(pc.fill_null(array(picked, "price", pa.float64()),
                                                               0.0), quantity), 0.0)  # fmt: skip
    unit = responses.unit[positions]
    times = array(picked, "timestamp", pa.float64())
    return pa.table({
        "unit": pa.array(unit, pa.int64()),
        "variant": pa.array(responses.variant[positions].tolist(), pa.string()),
        "event_type": kinds,
        "item_id": array(picked, "item_id", pa.string()),
        "request_id": pc.fill_null(array(picked, "request_id", pa.string()), ""),
        "timestamp": times,
        "revenue": revenue,
        "order": orders(array(picked, "order_id", pa.string()), is_purchase, unit_ids, unit, times),
    })  # fmt: skip


def orders(
    order_id: pa.Array, is_purchase: pa.Array, unit_ids: pa.Array, unit: np.ndarray, times: pa.Array
) -> pa.Array:
    """The order of each purchase: its order_id, else one order per visitor and second."""
    missing = np.flatnonzero(np.asarray(pc.and_(is_purchase, pc.is_null(order_id))))
    if not len(missing):
        return order_id
    filled = order_id.to_pylist()
    for row in missing:
        filled[row] = f"{unit_ids[int(unit[row])].as_py()}@{times[row].as_py():.0f}"
    return pa.array(filled, pa.string())
