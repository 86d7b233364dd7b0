"""Full-text search over verbatims: one query language, one interface, an index per backend.

The query language is a search box's: words (all must appear, in any form: ``invoices`` finds
``invoice``), ``"exact phrases"``, and ``-word`` or ``-"a phrase"`` to leave out. Punctuation is ignored.

The index belongs to the story store (journey's migration 0003):

* SQLite — the FTS5 table ``feedback_search`` (external content over ``feedback_items``, porter stemming,
  diacritics folded), kept in step by triggers; ranked by BM25;
* PostgreSQL — the generated column ``feedback_items.search_vector`` (``to_tsvector('lp_search', text)``: English
  stemming, diacritics folded with ``unaccent`` where the extension exists) with a GIN index; ranked by
  ``ts_rank_cd`` (cover density).

``text_index`` picks the implementation; both give a match condition on ``feedback_items`` and a rank where
lower is better, so the repository above them is the same on both backends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import DOUBLE_PRECISION
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem
from services.reporting.cache import ReportCache
from services.reporting.pagination import InvalidCursor
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


class TextIndex(Protocol):
    """A full-text index over ``feedback_items.text``."""

    def newest(self, session: Session, stmt: Select[Any], query: SearchQuery, *, narrowed: bool,
               few: bool = False) -> Select[Any]:
        """``stmt`` (a newest-first select from ``feedback_items``) narrowed to matches. ``narrowed``: other
        filters already bound the rows through an index (stage or customer); ``few``: and to a bounded number
        (a customer, or a stage within a period)."""

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, narrowed: bool = True,
               period: tuple[datetime | None, datetime | None] = (None, None)) -> Select[Any]:
        """Up to ``limit`` matches passing ``where``, most relevant first, after ``after``: rows of
        (``FeedbackItem``, rank, key); lower rank is more relevant, ``key`` breaks ties. ``narrowed``: as for
        ``newest``; ``period``: the start and end of the period ``where`` keeps, if any."""


class SqliteTextIndex:
    """FTS5 (``feedback_search``), ranked by BM25 (its ``rank`` column); ties broken by rowid. With more than
    ``RANKED`` matches, relevance orders the ``RANKED`` stored last (see docs/reporting.md).

    Plans chosen from EXPLAIN QUERY PLAN on a million items: the other filters reach FTS5 as ``+rowid IN
    (...)`` (the ``+`` keeps SQLite from handing each rowid to FTS5 as a separate lookup, which re-ran the search
    per row), and only the page's rows are joined back to ``feedback_items``. Newest first, a common term walks
    the time index and probes the match set; a rare one reads its matches and sorts them.
    """

    fts = table("feedback_search", column("rowid"), column("rank"), column("feedback_search"))
    rowid: ColumnElement[Any] = literal_column("feedback_items.rowid")
    COMMON = 5000
    NARROW = 0.5
    """A search reads the index only between the first and last rowid its filters keep when those span at most
    this share of the table (see ``_within``)."""
    RANKED = 5000
    """Relevance orders at most this many matches (passing the filters): the ones stored last."""

    @staticmethod
    def expression(query: SearchQuery) -> str:
        """The FTS5 query: quoted phrases (words only, so nothing in them is FTS5 syntax)."""
        expr = " AND ".join(f'"{p}"' for p in query.required)
        return expr + "".join(f' NOT "{p}"' for p in query.excluded)

    def _match(self, query: SearchQuery) -> ColumnElement[bool]:
        return self.fts.c.feedback_search.op("MATCH")(bindparam("fts_query", self.expression(query)))

    def _within(self, session: Session, hits: Select[Any], rows: Select[Any]) -> Select[Any]:
        """``hits`` (a select from the index) kept to the rowids between the first and the last of ``rows``, when
        those lie in at most ``NARROW`` of the table. ``rows`` must be few (a customer's, a stage's in a period):
        finding their first and last reads all of them.

        FTS5 then seeks its lists of matches to that rowid range instead of reading them whole. Rowids follow
        arrival, so in a store fed as feedback comes the rows of a period (and of a stage within it) lie close
        together, and a common word costs what its matches in that range cost. Where they are spread over the
        table (old exports imported in any order) the seeking would only cost more, and the range is left out.
        """
        first, last = session.execute(rows.with_only_columns(func.min(self.rowid), func.max(self.rowid))).one()
        if first is None:
            first, last = 1, 0  # no row passes the filters: nothing can match
        elif last - first > self.NARROW * (session.scalar(select(func.max(self.rowid)).select_from(FeedbackItem))
                                           or 0):
            return hits
        return hits.where(self.fts.c.rowid.between(bindparam("first_rowid", first), bindparam("last_rowid", last)))

    def newest(self, session: Session, stmt: Select[Any], query: SearchQuery, *, narrowed: bool,
               few: bool = False) -> Select[Any]:
        matches = select(self.fts.c.rowid).where(self._match(query))
        if narrowed:
            return stmt.where(self.rowid.in_(self._within(session, matches, stmt) if few else matches))
        common = session.scalar(select(func.count()).select_from(matches.limit(self.COMMON).subquery()))
        # A common term: ``+rowid`` keeps SQLite from fetching every match by rowid and sorting them all; it walks
        # ``ix_feedback_items_occurred_id`` newest first instead, probing the match set, and stops at the page
        # (docs/reporting.md has the bench figures). A rare term is cheaper fetched and sorted (walking the index
        # for one match reads the whole table).
        rowid = literal_column("+feedback_items.rowid") if (common or 0) >= self.COMMON else self.rowid
        return stmt.where(rowid.in_(matches))

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, narrowed: bool = True,
               period: tuple[datetime | None, datetime | None] = (None, None)) -> Select[Any]:
        fts = self.fts
        hits = select(fts.c.rowid.label("hit"), fts.c.rank.label("rank")).where(self._match(query))
        if where and narrowed:
            rows = select(self.rowid).where(*where)
            hits = self._within(session, hits, rows).where(literal_column("+feedback_search.rowid").in_(rows))
        elif where:  # wide filters (a period, a source): check each match by primary key, newest stored first
            hits = hits.where(exists(select(literal(1)).select_from(FeedbackItem)
                                     .where(self.rowid == fts.c.rowid, *where)))
        # BM25 is computed only for the rows FTS5 hands out: walking the matches from the last stored one and
        # stopping at RANKED bounds the cost of a common word (ranking 100,000 matches took 160 ms, 5,000 19 ms).
        ranked = hits.order_by(fts.c.rowid.desc()).limit(self.RANKED).subquery("ranked")
        page_q = select(ranked.c.hit, ranked.c.rank)
        if after is not None:
            if not after.key.isdigit():
                raise InvalidCursor("the cursor is not one this API returned")
            page_q = page_q.where(or_(ranked.c.rank > after.rank,
                                      and_(ranked.c.rank == after.rank, ranked.c.hit > int(after.key))))
        page = page_q.order_by(ranked.c.rank, ranked.c.hit).limit(limit).subquery("hits")
        return (select(FeedbackItem, page.c.rank, page.c.hit).join(page, page.c.hit == self.rowid)
                .order_by(page.c.rank, page.c.hit))


class PostgresTextIndex:
    """``search_vector`` (tsvector, GIN), ranked by ``ts_rank_cd`` (cover density); ties broken by feedback id.

    Relevance over wide filters is computed within the newest ``WINDOW`` voices (of the period, when there is
    one) when those hold at least ``RANKED`` of the matches (a common word), else over every match. The window is
    a range of ``ix_feedback_items_occurred_id``, and PostgreSQL intersects it with the term's GIN bitmap before
    reading any row: ranking all of a common word's ~100,000 matches in a million items read 38,000 heap pages;
    the window reads about a tenth of them (figures in docs/reporting.md).
    """

    vector: ColumnElement[Any] = literal_column("feedback_items.search_vector")
    WINDOW = 100_000
    """Over how many of the newest voices a common word's relevance is computed."""
    RANKED = 5000
    """The window is used when it holds at least this many matches (passing the filters)."""
    COMMON = 5000
    """A term estimated to have fewer matches in the whole store is ranked whole without looking at the window."""
    _boundaries: ClassVar[ReportCache] = ReportCache(10.0, 64)
    """Where the window begins, per store and period end, reused 10 s (finding it reads ``WINDOW`` index entries)."""
    _estimates: ClassVar[ReportCache] = ReportCache(60.0, 4096)
    """Match estimates per store and words, reused a minute (they change only when ANALYZE runs)."""

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

    def newest(self, session: Session, stmt: Select[Any], query: SearchQuery, *, narrowed: bool,
               few: bool = False) -> Select[Any]:
        return stmt.where(self.condition(query))

    def ranked(self, session: Session, where: Sequence[ColumnElement[bool]], query: SearchQuery,
               after: RankAfter | None, limit: int, *, narrowed: bool = True,
               period: tuple[datetime | None, datetime | None] = (None, None)) -> Select[Any]:
        # ts_rank_cd is a float4; as float8 the value survives the cursor's round trip exactly.
        rank = cast(-func.ts_rank_cd(self.vector, self._wanted(query)), DOUBLE_PRECISION)
        condition = [self.condition(query), *where]
        # A rare term is ranked whole: intersecting its few matches with the window's 100,000 keys costs more.
        common = not narrowed and self._estimated_matches(session, query) >= self.COMMON
        start, end = period
        boundary = self._boundary(session, end) if common else None
        if boundary is not None and (start is None or boundary > start):
            recent = [*condition, FeedbackItem.occurred_at >= boundary]
            if self._at_least(session, recent, self.RANKED):
                condition = recent
        stmt = select(FeedbackItem, rank.label("rank"), FeedbackItem.feedback_id).where(*condition)
        if after is not None:
            stmt = stmt.where(or_(rank > after.rank, and_(rank == after.rank, FeedbackItem.feedback_id > after.key)))
        return stmt.order_by(rank, FeedbackItem.feedback_id).limit(limit)

    def _estimated_matches(self, session: Session, query: SearchQuery) -> float:
        """How many items hold every word of the required phrases, at most: the rarest word's count from the
        statistics ANALYZE keeps of ``search_vector`` (its most common lexemes). 0 for a word not among them, or
        before the table was analysed. Counting matches instead would cost a term's whole GIN bitmap once more."""
        words = " ".join(query.required)
        return float(self._estimates.get(
            (str(session.get_bind().engine.url), words),
            lambda: session.execute(_MATCHES_ESTIMATE, {"words": words}).scalar() or 0.0))

    @staticmethod
    def _at_least(session: Session, condition: Sequence[ColumnElement[bool]], count: int) -> bool:
        """Whether ``count`` or more items meet ``condition`` (counting stops there)."""
        found = select(literal(1)).select_from(FeedbackItem).where(*condition).limit(count).subquery()
        return (session.scalar(select(func.count()).select_from(found)) or 0) >= count

    def _boundary(self, session: Session, end: datetime | None) -> datetime | None:
        """When the newest ``WINDOW`` voices before ``end`` (or of all) begin; ``None`` when there are no more."""
        def find() -> datetime | None:
            stmt = select(FeedbackItem.occurred_at)
            if end is not None:
                stmt = stmt.where(FeedbackItem.occurred_at < end)
            return session.scalar(stmt.order_by(FeedbackItem.occurred_at.desc()).offset(self.WINDOW).limit(1))

        boundary: datetime | None = self._boundaries.get((str(session.get_bind().engine.url), self.WINDOW, end), find)
        return boundary


_MATCHES_ESTIMATE = text("""
WITH target AS (
    SELECT n.nspname, c.relname, c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = 'feedback_items'::regclass
), common AS (
    SELECT unnest(s.most_common_elems::text::text[]) AS lexeme, unnest(s.most_common_elem_freqs) AS freq
    FROM pg_stats s JOIN target t ON s.schemaname = t.nspname AND s.tablename = t.relname
    WHERE s.attname = 'search_vector'
)
SELECT min(coalesce(common.freq, 0)) * greatest((SELECT reltuples FROM target), 0)
FROM unnest(tsvector_to_array(to_tsvector('lp_search'::regconfig, :words))) AS words(lexeme)
LEFT JOIN common USING (lexeme)
""")
"""At most how many items hold every word (``words``), from ANALYZE's statistics (see ``_estimated_matches``)."""


def text_index(session: Session) -> TextIndex:
    """The index of the session's backend."""
    return PostgresTextIndex() if session.get_bind().dialect.name == "postgresql" else SqliteTextIndex()
