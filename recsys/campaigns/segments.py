"""Customer segments: RFM quintile scores and the lifecycle segments a marketer recognises.

Every customer of the events gets one row: recency (days since the latest purchase), frequency
(orders), monetary (revenue), their quintile scores r, f, m (5 is best), one boolean column per
segment (a customer can be in several) and `segment`, the first of SEGMENTS they belong to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.campaigns.activity import DAY, abandoned_carts, last_purchase, now_of
from recsys.checks import at_least, between, section
from recsys.data.catalogue import Catalogue
from recsys.data.events import Events
from recsys.errors import ConfigError

# Precedence of the primary `segment` label, most actionable first.
SEGMENTS = (
    "cart_abandoners",
    "champions",
    "new",
    "loyal",
    "big_spenders",
    "active",
    "at_risk",
    "lapsed",
    "browsers",
)


@dataclass(frozen=True)
class SegmentsConfig:
    """The `[segments]` table. Days count back from the newest event."""

    new_days: float = 30.0  # new: first purchase within this many days
    active_days: float = 60.0  # active: latest purchase within; at risk: older, up to lapsed_days
    lapsed_days: float = 180.0  # lapsed: latest purchase older than this
    cart_days: float = 7.0  # cart abandoners: added to cart within this, no purchase since
    loyal_orders: int = 3  # loyal: at least this many orders, not lapsed
    champion_score: int = 4  # champions: r, f and m scores all at least this
    big_spender_score: int = 5  # big spenders: m score at least this, not lapsed

    def check(self, key: str) -> None:
        for name in ("new_days", "active_days", "lapsed_days", "cart_days"):
            at_least(f"{key}.{name}", getattr(self, name), 0)
        if self.lapsed_days < self.active_days:
            raise ConfigError(f"{key}.lapsed_days", "must be >= active_days")
        at_least(f"{key}.loyal_orders", self.loyal_orders, 1)
        between(f"{key}.champion_score", self.champion_score, 1, 5)
        between(f"{key}.big_spender_score", self.big_spender_score, 1, 5)


def segments_config(table: dict) -> SegmentsConfig:
    """Checks a raw `[segments]` table (recsys.config does when the config is loaded)."""
    return section(SegmentsConfig, table, "segments")


@dataclass
class RFM:
    """Per user number: the raw RFM values (recency NaN for customers who never bought)."""

    recency_days: np.ndarray
    first_days: np.ndarray
    frequency: np.ndarray
    monetary: np.ndarray

    @property
    def buyers(self) -> np.ndarray:
        return self.frequency > 0


def compute_rfm(events: Events, catalogue: Catalogue | None = None) -> RFM:
    """Recency and first purchase in days, orders (distinct order_id, else distinct purchase
    times), and revenue (price x quantity; the catalogue price where the event has none)."""
    n_users, now = len(events.users), now_of(events)
    bought = events.is_type("purchase")
    users, times = events.user[bought], events.timestamp[bought]
    last = last_purchase(events)
    first = np.full(n_users, np.iinfo(np.int64).max, np.int64)
    np.minimum.at(first, users, times)
    frequency = np.bincount(order_keys(events, bought, users), minlength=n_users)
    has = frequency > 0
    revenue = np.bincount(users, weights=line_revenue(events, bought, catalogue), minlength=n_users)
    return RFM(
        recency_days=np.where(has, (now - last) / DAY, np.nan),
        first_days=np.where(has, (now - first) / DAY, np.nan),
        frequency=frequency.astype(np.int64),
        monetary=revenue,
    )


def order_keys(events: Events, bought: np.ndarray, users: np.ndarray) -> np.ndarray:
    """The user of each distinct order (one entry per order)."""
    if "order_id" in events.extra.column_names:
        orders = events.extra.column("order_id").filter(pa.array(bought)).combine_chunks()
        codes = np.asarray(orders.dictionary_encode().indices.to_numpy(zero_copy_only=False))
        blank = pc.fill_null(pc.equal(orders, ""), True)  # CSV readers give "" for no order id
        codes = np.where(np.asarray(blank.to_numpy(zero_copy_only=False)), -1, codes)
        fallback = events.timestamp[bought]
        codes = np.where(codes >= 0, codes, -1 - fallback)  # no order id: its own time
    else:
        codes = events.timestamp[bought]
    pairs = np.unique(np.stack([users.astype(np.int64), codes.astype(np.int64)]), axis=1)
    return pairs[0]


def line_revenue(events: Events, bought: np.ndarray, catalogue: Catalogue | None) -> np.ndarray:
    extra = events.extra
    count = int(bought.sum())
    price = np.full(count, np.nan)
    if "price" in extra.column_names:
        column = extra.column("price").filter(pa.array(bought))
        price = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
    if catalogue is not None:
        listed = catalogue.aligned(events.items).table.column("price").to_numpy()
        price = np.where(np.isnan(price), listed[events.item[bought]], price)
    quantity = np.ones(count)
    if "quantity" in extra.column_names:
        column = extra.column("quantity").filter(pa.array(bought)).fill_null(1)
        quantity = np.asarray(column.to_numpy(zero_copy_only=False), np.float64)
    return np.nan_to_num(price * quantity)


def quintiles(values: np.ndarray, mask: np.ndarray, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 by quintile of `values` among `mask` (ties share a score); 0 elsewhere."""
    scores = np.zeros(len(values), np.int8)
    if not mask.any():
        return scores
    from scipy.stats import rankdata  # loaded only here: scipy.stats costs ~1 s to import

    ranked = rankdata(values[mask] if higher_is_better else -values[mask], method="average")
    scores[mask] = np.clip(np.ceil(ranked / mask.sum() * 5), 1, 5).astype(np.int8)
    return scores


def segment_flags(
    rfm: RFM, abandoners: np.ndarray, config: SegmentsConfig
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """One boolean array per segment name, and the r, f, m scores (3 x users)."""
    buyers = rfm.buyers
    recency = np.nan_to_num(rfm.recency_days, nan=np.inf)
    r = quintiles(-recency, buyers)
    f = quintiles(rfm.frequency.astype(np.float64), buyers)
    m = quintiles(rfm.monetary, buyers)
    lapsed = buyers & (recency > config.lapsed_days)
    top = config.champion_score
    flags = {
        "cart_abandoners": abandoners,
        "champions": buyers & (r >= top) & (f >= top) & (m >= top),
        "new": buyers & (np.nan_to_num(rfm.first_days, nan=np.inf) <= config.new_days),
        "loyal": buyers & (rfm.frequency >= config.loyal_orders) & ~lapsed,
        "big_spenders": buyers & (m >= config.big_spender_score) & ~lapsed,
        "active": buyers & (recency <= config.active_days),
        "at_risk": buyers & (recency > config.active_days) & ~lapsed,
        "lapsed": lapsed,
        "browsers": ~buyers,
    }
    return flags, np.stack([r, f, m])


def compute_segments(
    events: Events, config: SegmentsConfig, catalogue: Catalogue | None = None
) -> pa.Table:
    """One row per customer of `events`: user_id, segment, RFM values and scores, a flag per
    segment."""
    rfm = compute_rfm(events, catalogue)
    abandoners = np.diff(abandoned_carts(events, config.cart_days).indptr) > 0
    return segments_table(events.users.arrow, rfm, abandoners, config)


def segments_table(
    user_ids: pa.Array, rfm: RFM, abandoners: np.ndarray, config: SegmentsConfig
) -> pa.Table:
    """The segments of users whose RFM values and cart abandonment are known (however they were
    computed: from events here, by Spark in training/spark)."""
    flags, (r, f, m) = segment_flags(rfm, abandoners, config)
    primary = np.full(len(user_ids), len(SEGMENTS) - 1, np.int64)
    for code in range(len(SEGMENTS) - 1, -1, -1):  # the earliest segment in SEGMENTS wins
        primary[flags[SEGMENTS[code]]] = code
    rfm_code = pc.binary_join_element_wise(*(pa.array(s.astype(str)) for s in (r, f, m)), "")
    columns = {
        "user_id": user_ids,
        "segment": pa.array(np.array(SEGMENTS, dtype=object)[primary], pa.string()),
        "recency_days": pa.array(np.round(rfm.recency_days, 2), from_pandas=True),
        "frequency": pa.array(rfm.frequency),
        "monetary": pa.array(np.round(rfm.monetary, 2)),
        "r": pa.array(r),
        "f": pa.array(f),
        "m": pa.array(m),
        "rfm": rfm_code,
    }
    columns.update({name: pa.array(flags[name]) for name in SEGMENTS})
    return pa.table(columns)


def summarise(segments: pa.Table) -> pa.Table:
    """Per primary segment (in SEGMENTS order): customers, their share, revenue and its share."""
    labels = np.asarray(segments.column("segment").to_numpy(zero_copy_only=False))
    revenue = segments.column("monetary").to_numpy()
    codes = np.searchsorted(np.array(SEGMENTS), labels, sorter=np.argsort(SEGMENTS))
    codes = np.argsort(SEGMENTS)[codes]
    counts = np.bincount(codes, minlength=len(SEGMENTS))
    sums = np.bincount(codes, weights=revenue, minlength=len(SEGMENTS))
    total_users, total_revenue = max(1, len(labels)), max(1e-12, float(sums.sum()))
    return pa.table(
        {
            "segment": list(SEGMENTS),
            "customers": counts,
            "share": np.round(counts / total_users, 4),
            "revenue": np.round(sums, 2),
            "revenue_share": np.round(sums / total_revenue, 4),
        }
    )
