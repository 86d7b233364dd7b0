"""Full-text search over verbatims: one query language, one interface, an index per backend.

The query language is a search box's: words (all must appear, in any form: ``invoices`` finds
``invoice``), ``"exact phrases"``, and ``-word`` or ``-"a phrase"`` to leave out. Punctuation is ignored.

The index belongs to the story store (journey's migrations 0003 and 0012):

* SQLite — the FTS5 table ``feedback_search`` (contentless, rows keyed by when the voice happened, porter
  stemming, diacritics folded), kept in step by triggers; ranked by BM25;
* PostgreSQL — the generated column ``feedback_items.search_vector`` (``to_tsvector('lp_search', text)``: English
  stemming, diacritics folded with ``unaccent`` where the extension exists) with a GIN index; ranked by
  ``ts_rank`` (how often the words occur, divided by 1 + the logarithm of the voice's length).

``text_index`` picks the implementation; both give the newest matches and the most relevant ones (a rank where
lower is better) under the same filters, so the repository above them is the same on both backends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Subquery,
    TextClause,
    and_,
    bindparam,
    cast,
    column,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION, TSQUERY, TSVECTOR
from sqlalchemy.orm import Session, aliased

from services.journey.models import FeedbackItem
from services.reporting.cache import ReportCache
from services.reporting.pagination import InvalidCursor
from shared.db import UTCDateTime
from shared.http import ServiceError

_TOKEN = re.compile(r'(-?)"([^"]*)"?|(-?)(\S+)')
_WORD = re.compile(r"[^\W_]+")


class InvalidSearch(ServiceError):
    """A search with nothing to look for."""

    code = "invalid_search"


@dataclass(frozen=True)
class SearchQuery:
    """What to find: phrases that must all appear, and phrases that must not."""

    required: tuple[str, ...]
    excluded: tuple[str, ...] = ()


def parse(text: str) -> SearchQuery:
    """The search a user typed; ``InvalidSearch`` when it has no word to find."""
    required: list[str] = []
    excluded: list[str] = []
    for m in _TOKEN.finditer(text):
        negated = bool(m.group(1) or m.group(3))
        words = _WORD.findall(m.group(2) if m.group(2) is not None else m.group(4))
        if words:
            (excluded if negated else required).append(" ".join(w.lower() for w in words))
    if not required:
        raise InvalidSearch("the search has no word to find (letters or digits; `-word` only leaves words out)")
    return SearchQuery(tuple(dict.fromkeys(required)), tuple(dict.fromkeys(excluded)))


@dataclass(frozen=True)
class RankAfter:
    """Where a relevance page ends: the last item's rank and its backend key (as text, from the cursor)."""

    rank: float
    key: str


Bounds = tuple[datetime | None, datetime | None]
"""A period: the kept items are at or after the first instant and before the second (``None``: unbounded)."""
NEWEST_FIRST = (FeedbackItem.occurred_at.desc(), FeedbackItem.feedback_id.desc())
"""The order of a newest-first list: the time, then the id."""


def in_period(period: Bounds) -> list[ColumnElement[bool]]:
    """The conditions on ``feedback_items`` that keep ``period``."""
    start, end = period
    return ([FeedbackItem.occurred_at >= start] if start is not None else []) + (
        [FeedbackItem.occurred_at < end] if end is not None else [])


RankedRow = tuple[FeedbackItem, float, object]
"""A relevance page's row: the item, its rank (lower is more relevant) and the key that breaks ties."""


class TextIndex(Protocol):
    """A full-text index over ``feedback_items.text``."""

    def newest(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery, period: Bounds,
               limit: int, *, few: bool = False) -> Sequence[FeedbackItem]:
        """The newest ``limit`` matches passing ``where`` within ``period``, in ``NEWEST_FIRST`` order. ``few``:
        ``where`` keeps a few rows found through an index (a customer's)."""

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, period: Bounds = (None, None), narrowed: bool = True,
               few: bool = False, ordered: Sequence[ColumnElement[bool]] = ()) -> list[RankedRow]:
        """Up to ``limit`` matches passing ``where`` within ``period``, most relevant first, after ``after``: rows
        of (``FeedbackItem``, rank, key); lower rank is more relevant, ``key`` breaks ties. ``narrowed``: the
        filters bound the rows through an index to a small set (a customer, or a stage within a period);
        ``few``: as for ``newest``; ``ordered``: the conditions of ``where`` whose rows an index lists in time
        order (a stage)."""


ITEM_BITS = 30
"""The low bits of a SQLite index key, which name the item (its ``feedback_items.rowid``); the bits above them are
the second the voice happened (journey migration 0012)."""
ITEM_MASK = (1 << ITEM_BITS) - 1
SECONDS = (-(1 << 33), (1 << 33) - 1)
"""The seconds a key can hold (the years 1697 to 2242: 64 bits in all); a voice outside is keyed at the nearer end."""


def _second(at: datetime, rounding: Callable[[float], int]) -> tuple[int, bool]:
    """The second of ``at`` for a key (``rounding`` of its timestamp), and whether it is within ``SECONDS``."""
    second = rounding(at.timestamp())
    held = min(max(second, SECONDS[0]), SECONDS[1])
    return held, held == second


def _tighter(current: int | None, other: int | None, pick: Callable[[int, int], int]) -> int | None:
    return other if current is None else current if other is None else pick(current, other)


@dataclass(frozen=True)
class KeyRange:
    """SQLite index keys from ``low`` to ``high``, both included (``None``: unbounded). ``exact``: the range holds
    the period's voices, and other voices only in its first and last seconds (``edges``), so only those seconds'
    voices need their times read.

    SQLite rounds a time to the millisecond before it takes its second (``strftime('%s')``), so a voice of the last
    half-millisecond of a second is keyed in the next one: 23:59:59.9996 under midnight. A key's voice happened in
    its second or in the last half-millisecond before it. So a period's range reaches into the second its end is in
    (a voice just before the end may be keyed there), and in an exact range the voices keyed in its first or its
    last second are checked against the period (``edges``: the period itself)."""

    low: int | None
    high: int | None
    exact: bool = True
    edges: Bounds = (None, None)

    @staticmethod
    def of(period: Bounds) -> KeyRange:
        """The keys of the voices within ``period``."""
        start, end = period
        exact = all(t is None or t.microsecond == 0 for t in period)
        low = high = None
        if start is not None:
            second, held = _second(start, math.floor)
            low, exact = second << ITEM_BITS, exact and held
        if end is not None:  # before ``end``: up to its second, where a voice just before it may be keyed
            second, held = _second(end, math.ceil)
            high, exact = (second << ITEM_BITS) | ITEM_MASK, exact and held
        return KeyRange(low, high, exact, period if exact else (None, None))

    def within(self, low: int | None, high: int | None) -> KeyRange:
        """The part of this range between ``low`` and ``high``."""
        return KeyRange(_tighter(self.low, low, max), _tighter(self.high, high, min), self.exact, self.edges)

    def inner(self) -> tuple[int | None, int | None]:
        """The keys between the ``edges``' seconds, whose voices are within the period without a check."""
        start, end = self.edges
        return (None if start is None else (_second(start, math.floor)[0] + 1) << ITEM_BITS,
                None if end is None else (_second(end, math.ceil)[0] << ITEM_BITS) - 1)


_EDGE_TIME = ("(SELECT edge.occurred_at FROM feedback_items AS edge "  # noqa: S608 (constant SQL)
              f"WHERE edge.rowid = feedback_search.rowid & {ITEM_MASK})")
"""The time of the voice a ``feedback_search`` key names (SQLite)."""


class SqliteTextIndex:
    """FTS5 (``feedback_search``), ranked by BM25 (its ``rank`` column); ties broken by the index key.

    The index numbers each voice by when it happened (journey migration 0012: the second in the high bits, the
    item's rowid in the low ``ITEM_BITS``), and FTS5 keeps each word's matches in that order and seeks in them. So
    a period is a key range, read whatever order the voices were stored in; newest first is the index's own
    order, read backwards until the page is full; and with more than ``RANKED`` matches, relevance orders the
    newest ``RANKED`` (see docs/reporting.md). Other filters are checked on each match by primary key, except a
    customer's few rows, which are read first and intersected with the matches.
    """

    fts = table("feedback_search", column("rowid"), column("rank"), column("feedback_search"))
    key: ColumnElement[Any] = literal_column("feedback_search.rowid")
    rowid: ColumnElement[Any] = literal_column("feedback_items.rowid")
    RANKED = 5000
    """Relevance orders at most this many matches (passing the filters): the newest."""
    COUNTS_S = 600.0
    _counts: ClassVar[ReportCache] = ReportCache(COUNTS_S, 4096)
    """How many voices hold a phrase, and how many there are, per store (see ``_weighed``)."""

    @staticmethod
    def expression(query: SearchQuery) -> str:
        """The FTS5 query: quoted phrases (words only, so nothing in them is FTS5 syntax)."""
        expr = " AND ".join(f'"{p}"' for p in query.required)
        return expr + "".join(f' NOT "{p}"' for p in query.excluded)

    @classmethod
    def item_key(cls) -> ColumnElement[Any]:
        """The index key of a ``feedback_items`` row, as the migration's triggers compute it."""
        second = func.max(func.min(cast(func.strftime("%s", FeedbackItem.occurred_at), Integer), SECONDS[1]),
                          SECONDS[0])
        return second.op("<<")(ITEM_BITS).op("|")(cls.rowid.op("&")(ITEM_MASK))

    def _hits(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery, keys: KeyRange,
              *, few: bool, columns: Sequence[ColumnElement[Any]]) -> Select[Any]:
        """``columns`` of the matches passing ``where`` within ``keys``."""
        stmt = select(*columns).select_from(self.fts).where(self.fts.c.feedback_search.op("MATCH")(
            bindparam("fts_query", self.expression(query))))
        if few and where:  # read the few rows, then only the part of the index between their first and last keys
            rows = select(self.item_key().label("k")).select_from(FeedbackItem).where(*where)
            span = rows.subquery()
            first, last = session.execute(select(func.min(span.c.k), func.max(span.c.k))).one()
            keys = keys.within(first, last) if first is not None else KeyRange(1, 0)  # no row: an empty range
            # ``+`` keeps SQLite from handing each key to FTS5 as a lookup of its own (re-running the search).
            stmt = stmt.where(literal_column("+feedback_search.rowid").in_(rows))
        elif where:
            stmt = stmt.join(FeedbackItem, self.rowid == self.key.op("&")(ITEM_MASK)).where(*where)
        if keys.low is not None:
            stmt = stmt.where(self.key >= keys.low)
        if keys.high is not None:
            stmt = stmt.where(self.key <= keys.high)
        if keys.edges != (None, None):
            stmt = stmt.where(self._edges_checked(keys))
        return stmt

    @staticmethod
    def _edges_checked(keys: KeyRange) -> TextClause:
        """A voice keyed in an exact range's first or last second is checked against the period (``KeyRange``):
        SQLite reads its time (by primary key) only for keys in those seconds. Written as SQL text: built per
        search, the same condition as expressions cost more than running it."""
        (inner_low, inner_high), (start, end) = keys.inner(), keys.edges
        inner: list[str] = []
        timed: list[str] = []
        values = []
        at = _EDGE_TIME
        if start is not None:
            inner.append("feedback_search.rowid >= :edge_inner_low")
            timed.append(f"{at} >= :edge_start")
            values += [bindparam("edge_inner_low", inner_low), bindparam("edge_start", start, type_=UTCDateTime())]
        if end is not None:
            inner.append("feedback_search.rowid <= :edge_inner_high")
            timed.append(f"{at} < :edge_end")
            values += [bindparam("edge_inner_high", inner_high), bindparam("edge_end", end, type_=UTCDateTime())]
        return text(f"(({' AND '.join(inner)}) OR ({' AND '.join(timed)}))").bindparams(*values)

    def newest(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery, period: Bounds,
               limit: int, *, few: bool = False) -> Sequence[FeedbackItem]:
        keys = KeyRange.of(period)
        where = [*where, *([] if keys.exact else in_period(period))]
        found = self._keys(session, where, query, keys, few=few, limit=limit)
        if len(found) == limit:
            # The keys order by the second, then by rowid; the page by the time, then by id. Voices of the last
            # second not yet read may belong on the page: read them too, and let the page's order decide.
            second = (found[-1] >> ITEM_BITS) << ITEM_BITS
            found += self._keys(session, where, query, keys.within(second, found[-1] - 1), few=few, limit=None)
        return session.scalars(select(FeedbackItem).where(self.rowid.in_([k & ITEM_MASK for k in found]))
                               .order_by(*NEWEST_FIRST).limit(limit)).all()

    def _keys(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery, keys: KeyRange,
              *, few: bool, limit: int | None) -> list[int]:
        """The keys of the matches, newest first (up to ``limit``)."""
        hits = self._hits(session, where, query, keys, few=few, columns=[self.key])
        return list(session.scalars(hits.order_by(self.key.desc()).limit(limit)))

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, period: Bounds = (None, None), narrowed: bool = True,
               few: bool = False, ordered: Sequence[ColumnElement[bool]] = ()) -> list[RankedRow]:
        keys = KeyRange.of(period)
        where = [*where, *([] if keys.exact else in_period(period))]
        weighed = self._weighed(session, query)
        if weighed == query:
            hits = self._hits(session, where, query, keys, few=few,
                              columns=[self.key.label("hit"), self.fts.c.rank.label("rank")])
            # BM25 is computed only for the rows FTS5 hands out: walking the matches from the newest and stopping
            # at RANKED bounds the cost of a common word (ranking 100,000 matches took 160 ms, 5,000 19 ms).
            ranked = hits.order_by(self.key.desc()).limit(self.RANKED).subquery("ranked")
        else:
            ranked = self._weighed_ranks(session, where, query, weighed, keys, few=few)
        page_q = select(ranked.c.hit, ranked.c.rank)
        if after is not None:
            if not after.key.lstrip("-").isdigit():
                raise InvalidCursor("the cursor is not one this API returned")
            page_q = page_q.where(or_(ranked.c.rank > after.rank,
                                      and_(ranked.c.rank == after.rank, ranked.c.hit > int(after.key))))
        page = page_q.order_by(ranked.c.rank, ranked.c.hit).limit(limit).subquery("hits")
        stmt = (select(FeedbackItem, page.c.rank, page.c.hit)
                .join(page, self.rowid == page.c.hit.op("&")(ITEM_MASK))
                .order_by(page.c.rank, page.c.hit))
        return [(item, rank, key) for item, rank, key in session.execute(stmt)]

    def _weighed_ranks(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
                       weighed: SearchQuery, keys: KeyRange, *, few: bool) -> Subquery:
        """(hit, rank) of the newest ``RANKED`` matches of ``query``, ranked by BM25 of the ``weighed`` phrases.

        Two readings of the index: the matches, newest first, with no rank; then the weighed phrases' matches
        among them (only between the first and the last, which FTS5 seeks to), ranked."""
        found = self._hits(session, where, query, keys, few=few, columns=[self.key.label("hit")])
        candidates = found.order_by(self.key.desc()).limit(self.RANKED).cte("candidates")
        weighs = self.fts.alias("weighed")
        key: ColumnElement[Any] = literal_column("weighed.rowid")
        return (select(key.label("hit"), literal_column("weighed.rank").label("rank")).select_from(weighs)
                .where(weighs.c.feedback_search.op("MATCH")(bindparam("weighed_query", self.expression(weighed))),
                       # ``+``: one pass over the weighed matches, checked against the candidates (as above)
                       literal_column("+weighed.rowid").in_(select(candidates.c.hit)),
                       key >= select(func.min(candidates.c.hit)).scalar_subquery(),
                       key <= select(func.max(candidates.c.hit)).scalar_subquery())
                .subquery("ranked"))

    def _weighed(self, session: Session, query: SearchQuery) -> SearchQuery:
        """The search BM25 should rank by: its required phrases that fewer than half the voices hold.

        FTS5's BM25 gives a phrase that half the voices or more hold no weight (its IDF is clamped to 1e-6), yet
        finding that out counts, in every search, every voice that holds the phrase (a word in every voice: the
        whole store, 50 ms in a million). The counts are kept ``COUNTS_S`` seconds per store, so such a phrase
        only filters; excluded phrases only filter too (no ranked voice holds them). With no phrase left, all the
        required ones rank."""
        stored = self._count(session, None)
        weighed = tuple(p for p in query.required if 2 * self._count(session, p) < stored)
        return SearchQuery(weighed or query.required)

    def _count(self, session: Session, phrase: str | None) -> int:
        """How many voices hold ``phrase`` (``None``: how many there are), from the ``COUNTS_S`` cache."""
        def count() -> int:
            if phrase is None:
                return session.scalar(select(func.count()).select_from(FeedbackItem)) or 0
            return session.scalar(select(func.count()).select_from(self.fts).where(
                self.fts.c.feedback_search.op("MATCH")(self.expression(SearchQuery((phrase,)))))) or 0

        counted: int = self._counts.get((str(session.get_bind().engine.url), phrase), count)
        return counted


class PostgresTextIndex:
    """``search_vector`` (tsvector, GIN), ranked by ``ts_rank`` with length normalisation 1 (how often the words
    occur, divided by 1 + the logarithm of the voice's length, as BM25 weighs SQLite's); ties broken by feedback id.
    ``ts_rank_cd`` (cover density) cost several times as much per ranked match (docs/reporting.md).

    A common term's relevance over wide filters is computed within a window of the newest voices (of the period,
    and of the stage, when the search has them), sized from the term's share of the voices, times the share the
    other filters keep (a sentiment, a source), so that it holds about ``SPARE`` times ``RANKED`` matches; when it
    holds fewer than ``RANKED`` passing the filters, within one as much larger as it fell short, and when that one
    too holds fewer (or reaches past the period), over every match.
    The window is a range of an index ordered by time, and PostgreSQL intersects it with the term's GIN bitmap
    before reading any row: ranking all of a common word's ~100,000 matches in a million items read 38,000 heap
    pages; the window reads the pages of some 6,500 (figures in docs/reporting.md).

    A common term bounded in time (the window, or a period) over at most ``DAYS_MAX`` UTC days, and not among a
    stage's voices, is found through the day index (journey migration 0013: each lexeme keyed by its voice's UTC
    day), one index scan per day, instead of through the term's whole GIN entries; the phrase itself is then
    checked on each row (see ``_matches``).
    """

    vector: ColumnElement[Any] = literal_column("feedback_items.search_vector")
    RANKED = 5000
    """The window is used when it holds at least this many matches (passing the filters)."""
    SPARE = 1.3
    """The window is sized to hold this many times ``RANKED`` matches, by the term's share of the voices."""
    NORMALIZATION = 1
    """``ts_rank``'s length normalisation: the rank is divided by 1 + the logarithm of the voice's length."""
    COMMON = 5000
    """A term estimated to have fewer matches in the whole store is ranked whole without looking at the window."""
    _boundaries: ClassVar[ReportCache] = ReportCache(10.0, 256)
    """Where a window begins, per store, size, rows and period end, reused 10 s (finding it reads the window's
    index entries)."""
    _estimates: ClassVar[ReportCache] = ReportCache(60.0, 4096)
    """Share estimates per store and words, reused a minute (they change only when ANALYZE runs)."""
    WALK = 2.0
    """Newest first, a common term is first looked for among the newest voices passing the filters, at most this
    many times as many as its share of the voices promises to hold a page."""
    DAYS_MAX = 92
    """A common term bounded in time over at most this many UTC days is found through the day index. Each day is an
    index scan of its own (a few dozen microseconds): one scan over all the days' keys cost far more, as GIN checks
    every key against every match."""

    @staticmethod
    def tsquery(phrase: str) -> Any:
        """The tsquery of one phrase, normalised by the same configuration as the column."""
        return func.phraseto_tsquery(literal_column("'lp_search'::regconfig"), phrase)

    def _wanted(self, query: SearchQuery) -> Any:
        wanted = self.tsquery(query.required[0])
        for phrase in query.required[1:]:
            wanted = wanted.op("&&")(self.tsquery(phrase))
        return wanted

    def condition(self, query: SearchQuery) -> ColumnElement[bool]:
        """Every required phrase and none of the excluded ones."""
        parts = [self.vector.op("@@")(self._wanted(query))]
        parts += [not_(self.vector.op("@@")(self.tsquery(p))) for p in query.excluded]
        return and_(*parts)

    def newest(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery, period: Bounds,
               limit: int, *, few: bool = False) -> Sequence[FeedbackItem]:
        every = (select(FeedbackItem).where(*where, *in_period(period), self.condition(query))
                 .order_by(*NEWEST_FIRST).limit(limit))
        narrowed = bool(where) or period != (None, None)
        share, stored, _ = self._estimated_share(session, query) if narrowed and not few else (0.0, 0.0, ())
        if share * stored < self.COMMON:
            return session.scalars(every).all()
        # A common term within filters or a period: walk the newest voices passing them, in time order, and check
        # each for the term, reading at most WALK times as many as its share promises to hold the page.
        # PostgreSQL's own plan intersects the term's whole entries with the filters' index and sorts, as its
        # estimate of a term's matches multiplies its words' shares: words that go together have many more.
        # (With neither, its plan is that walk already.)
        recent = (select(FeedbackItem, self.vector.label("words")).where(*where, *in_period(period))
                  .order_by(*NEWEST_FIRST).limit(math.ceil(self.WALK * limit / share)).subquery("recent"))
        item = aliased(FeedbackItem, recent)
        words = func.coalesce(recent.c.words, cast(literal(""), TSVECTOR))  # checked on the row, not the index
        found = session.scalars(
            select(item).where(words.bool_op("@@")(self._wanted(query)),
                               *[not_(words.bool_op("@@")(self.tsquery(p))) for p in query.excluded])
            .order_by(item.occurred_at.desc(), item.feedback_id.desc()).limit(limit)).all()
        # Fewer matches than the share promised, or fewer at all: every match, as PostgreSQL plans it.
        return found if len(found) == limit else session.scalars(every).all()

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, period: Bounds = (None, None), narrowed: bool = True,
               few: bool = False, ordered: Sequence[ColumnElement[bool]] = ()) -> list[RankedRow]:
        # ts_rank is a float4; as float8 the value survives the cursor's round trip exactly.
        rank = cast(-func.ts_rank(self.vector, self._wanted(query), self.NORMALIZATION), DOUBLE_PRECISION)
        # A rare term is ranked whole: intersecting its few matches with a window's keys costs more.
        term_share, stored, lexemes = (0.0, 0.0, ()) if narrowed else self._estimated_share(session, query)
        filtered = self._filtered_share(session, where, ordered, stored) if term_share else 1.0
        share = term_share * filtered
        # The day index pays where the term has many entries and nothing else narrows the voices. Among a stage's
        # voices (spread over many more days), or with a filter the days' matches would each be read to check (a
        # sentiment: three times the rows), the term's entries intersected with the other index read less.
        by_day = lexemes if term_share * stored >= self.COMMON and not ordered and filtered == 1.0 else ()
        start, end = period
        size = self._window_size(share) if share * stored >= self.COMMON else 0
        for _ in range(2 if size else 0):  # the window, then once more sized by the matches it held
            boundary = self._boundary(session, ordered, end, size)
            if boundary is None or (start is not None and boundary <= start):
                break
            page, held = self._window_page(session, [*self._matches(session, query, by_day, boundary, end), *where],
                                           rank, after, limit)
            if page is not None:
                return page
            if held == 0:
                break
            # Filters the window is not counted among (a sentiment, a source) kept fewer matches than the term's
            # share promised: as many more voices as that shortfall, so that the next window holds enough.
            size = math.ceil(size * self.RANKED * self.SPARE / held)
        stmt = select(FeedbackItem, rank.label("rank"), FeedbackItem.feedback_id).where(
            *self._matches(session, query, by_day, start, end), *where)
        if after is not None:
            stmt = stmt.where(or_(rank > after.rank, and_(rank == after.rank, FeedbackItem.feedback_id > after.key)))
        return [(item, r, key) for item, r, key in session.execute(stmt.order_by(rank, FeedbackItem.feedback_id)
                                                                  .limit(limit))]

    def _matches(self, session: Session, query: SearchQuery, lexemes: Sequence[str], since: datetime | None,
                 until: datetime | None) -> list[ColumnElement[bool]]:
        """The conditions of the search's matches from ``since`` until before ``until`` (``None``: unbounded).

        With the term's ``lexemes`` (a common term, see ``ranked``), a ``since`` and at most ``DAYS_MAX`` days up
        to ``until`` (or the day after the newest voice), through the day index: for each day, a voice holding every
        lexeme on that day (an index scan each, the day scans' bitmaps OR-ed); then the phrases themselves, the
        exclusions and the time are checked on the row. ``coalesce`` keeps the planner from also reading the term's
        whole entries in the plain index, and the time is compared as ``occurred_at + 0 s`` so that it does not
        intersect the days with the time index's range, which they already bound to a day at each end (that
        intersection was a quarter of the statement's time, by hand on the bench's million items). Otherwise, the
        plain index and the period."""
        plain = [self.condition(query), *in_period((since, until))]
        if not lexemes or since is None:
            return plain
        # Up to the newest voice (looked up every 10 s) and the day after it, where voices arrive next; one dated
        # later still is found once the lookup is renewed.
        first_day = _utc_day(since)
        last_day = _utc_day(until - timedelta(microseconds=1)) if until is not None else (
            _utc_day(self._newest(session)) + 1)
        if not 0 <= last_day - first_day < self.DAYS_MAX:
            return plain
        days = func.lp_search_days(self.vector, FeedbackItem.occurred_at)
        found = [days.op("@@")(cast(literal(_day_query(lexemes, day)), TSQUERY))
                 for day in range(first_day, last_day + 1)]
        checked = func.coalesce(self.vector, cast(literal(""), TSVECTOR)).bool_op("@@")(self._wanted(query))
        at = type_coerce(FeedbackItem.occurred_at.op("+")(literal_column("interval '0 s'")), UTCDateTime())
        return [or_(*found), checked, *[not_(self.vector.op("@@")(self.tsquery(p))) for p in query.excluded],
                at >= since, *([] if until is None else [at < until])]

    def _newest(self, session: Session) -> datetime:
        """When the newest voice happened (the epoch when none is stored), looked up once every 10 s per store."""
        def find() -> datetime:
            return session.scalar(select(func.max(FeedbackItem.occurred_at))) or EPOCH

        newest: datetime = self._boundaries.get((str(session.get_bind().engine.url), "newest"), find)
        return newest

    def _filtered_share(self, session: Session, where: Sequence[ColumnElement[bool]],
                        ordered: Sequence[ColumnElement[bool]], stored: float) -> float:
        """The share of the voices that pass ``where`` but for the ``ordered`` conditions (the window is counted
        among those already): a sentiment's, a source's share of the voices, as the planner estimates it from
        ANALYZE's statistics, kept a minute. 1 when no other condition is left or nothing is stored. The window's
        size takes it as independent of the term; where the two go together less, the window grows once by its
        shortfall."""
        skip = {_literal_sql(c) for c in ordered}
        rest = [c for c in where if _literal_sql(c) not in skip]
        if not rest or stored <= 0:
            return 1.0
        stmt = select(literal(1)).select_from(FeedbackItem).where(*rest)

        def estimate() -> float:
            compiled = stmt.compile(dialect=session.get_bind().dialect)
            plan = session.connection().exec_driver_sql(f"EXPLAIN (FORMAT JSON) {compiled}",
                                                       compiled.params).scalar_one()
            return float(plan[0]["Plan"]["Plan Rows"])

        rows: float = self._estimates.get(
            (str(session.get_bind().engine.url), tuple(_literal_sql(c) for c in rest)), estimate)
        return min(1.0, max(rows, 1.0) / stored)

    def _window_size(self, share: float) -> int:
        """How many of the newest voices hold about ``SPARE`` times ``RANKED`` matches of a term held by ``share``."""
        return math.ceil(self.RANKED * self.SPARE / share)

    def _window_page(self, session: Session, recent: Sequence[ColumnElement[bool]], rank: ColumnElement[float],
                     after: RankAfter | None, limit: int) -> tuple[list[RankedRow] | None, int]:
        """(the page ranked within the window, or ``None`` when the window holds fewer than ``RANKED`` matches; how
        many matches it holds, counted up to ``RANKED`` at least).

        One statement ranks the window's matches and counts them (``count(*) OVER ()``, before the cursor's
        condition, so every page of a search decides alike); only the page's items are then read whole. Counting
        in a statement of its own built the term's GIN bitmap, and the window's, a second time."""
        ranked = select(FeedbackItem.feedback_id.label("id"), rank.label("rank"),
                        func.count().over().label("total")).where(*recent).subquery("ranked")
        page_q = select(ranked.c.id, ranked.c.rank, ranked.c.total)
        if after is not None:
            page_q = page_q.where(or_(ranked.c.rank > after.rank,
                                      and_(ranked.c.rank == after.rank, ranked.c.id > after.key)))
        rows = session.execute(page_q.order_by(ranked.c.rank, ranked.c.id).limit(limit)).all()
        held = int(rows[0].total) if rows else self._up_to(session, recent, self.RANKED)
        if held < self.RANKED:
            return None, held
        items = {i.feedback_id: i for i in session.scalars(
            select(FeedbackItem).where(FeedbackItem.feedback_id.in_([r.id for r in rows])))} if rows else {}
        return [(items[r.id], r.rank, r.id) for r in rows], held

    def _estimated_share(self, session: Session, query: SearchQuery) -> tuple[float, float, tuple[str, ...]]:
        """(the share of the voices that hold every word of the required phrases, at most; how many voices there
        are; the words' lexemes), from the statistics ANALYZE keeps: the rarest word's frequency among
        ``search_vector``'s most common lexemes, and the table's row estimate. A share of 0 for a word not among
        them, or before the table was analysed. Counting matches instead would cost a term's whole GIN bitmap once
        more."""
        words = " ".join(query.required)
        share, stored, lexemes = self._estimates.get(
            (str(session.get_bind().engine.url), words),
            lambda: tuple(session.execute(_SHARE_ESTIMATE, {"words": words}).one()))
        return float(share or 0.0), float(stored or 0.0), tuple(lexemes or ())

    @staticmethod
    def _up_to(session: Session, condition: Sequence[ColumnElement[bool]], count: int) -> int:
        """How many items meet ``condition``, counted up to ``count`` (counting stops there)."""
        found = select(literal(1)).select_from(FeedbackItem).where(*condition).limit(count).subquery()
        return session.scalar(select(func.count()).select_from(found)) or 0

    def _boundary(self, session: Session, ordered: Sequence[ColumnElement[bool]], end: datetime | None,
                  size: int) -> datetime | None:
        """When the newest ``size`` voices meeting ``ordered`` (conditions an index lists in time order: a stage)
        before ``end`` (or of all) begin; ``None`` when there are no more."""
        def find() -> datetime | None:
            stmt = select(FeedbackItem.occurred_at).where(*ordered)
            if end is not None:
                stmt = stmt.where(FeedbackItem.occurred_at < end)
            return session.scalar(stmt.order_by(FeedbackItem.occurred_at.desc()).offset(size).limit(1))

        rows = tuple(_literal_sql(c) for c in ordered)
        boundary: datetime | None = self._boundaries.get((str(session.get_bind().engine.url), size, rows, end), find)
        return boundary


def _literal_sql(condition: ColumnElement[bool]) -> str:
    """A condition as SQL with its values written in: a cache key, and how two equal conditions are told apart."""
    return str(condition.compile(compile_kwargs={"literal_binds": True}))


_SHARE_ESTIMATE = text("""
WITH target AS (
    SELECT n.nspname, c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'feedback_items'::regclass
), common AS (
    SELECT unnest(s.most_common_elems::text::text[]) AS lexeme, unnest(s.most_common_elem_freqs) AS freq
    FROM pg_stats s JOIN target t ON s.schemaname = t.nspname AND s.tablename = t.relname
    WHERE s.attname = 'search_vector'
)
SELECT min(coalesce(common.freq, 0)), greatest((SELECT reltuples FROM target), 0), array_agg(words.lexeme)
FROM unnest(tsvector_to_array(to_tsvector('lp_search'::regconfig, :words))) AS words(lexeme)
LEFT JOIN common USING (lexeme)
""")
"""(At most what share of the voices hold every word (``words``), how many voices there are, the words' lexemes),
from ANALYZE's statistics (see ``_estimated_share``)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc_day(at: datetime) -> int:
    """The UTC day of ``at``, counted from 1970-01-01 (as ``lp_search_days`` keys it)."""
    return (at - EPOCH) // timedelta(days=1)


def _day_query(lexemes: Sequence[str], day: int) -> str:
    """The tsquery (in its text form) of a voice holding every one of ``lexemes`` on ``day``, in the day index: each
    lexeme quoted (a quote doubled, a backslash escaped), keyed ``lexeme@day``."""
    return " & ".join("'" + f"{lexeme}@{day}".replace("\\", "\\\\").replace("'", "''") + "'"
                      for lexeme in lexemes)


def text_index(session: Session) -> TextIndex:
    """The index of the session's backend."""
    return PostgresTextIndex() if session.get_bind().dialect.name == "postgresql" else SqliteTextIndex()
