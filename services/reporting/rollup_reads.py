"""Counters over periods and trend buckets, from the rollups: never a scan of all items.

Rollups are kept per UTC day and per UTC quarter-hour. A bucket (a span of instants: a period or a trend window in
the caller's time zone) is summed from the day rows of the UTC days wholly inside it and, where its ends cut
through a UTC day (time zones other than UTC), from the quarter-hour rows of the whole quarter-hours inside it:
every zone's offset today is a whole number of quarter-hours (Asia/Kolkata +05:30, Asia/Kathmandu +05:45). Only an
edge off the quarter-hours (a historical offset such as a city's local mean time before 1900) leaves anything:
under a quarter-hour per bucket edge, whose voices are read from ``feedback_items`` through the ``occurred_at``
index and counted with the same definition (``Counts.of_item``). Each bucket is thus exact in any time zone.

A segment narrows everything to the voices of its customers; rollups are not kept per segment, so that path
counts the segment's voices from ``feedback_items`` (through the ``customer_id`` index).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Executable,
    String,
    and_,
    bindparam,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.orm import Session

from services.journey.metrics import SENTIMENT_SCALE, Counts
from services.journey.models import (
    COUNTER_COLUMNS,
    UNSTAGED,
    Customer,
    ExperienceDay,
    ExperienceQuarter,
    FeedbackItem,
    StageDay,
    StageDayPhrase,
    StageQuarter,
    StageQuarterPhrase,
    utc_quarter,
)
from services.reporting.periods import Period, Span

Dimension = Literal["stage", "experience"]


def segment_customers(segment: str | ColumnElement[str]) -> Any:
    """Customer ids in a segment (by the surviving customer's segment), with the ids merged into them."""
    roots = select(Customer.id).where(Customer.segment == segment, Customer.merged_into.is_(None))
    return select(Customer.id).where(or_(Customer.id.in_(roots), Customer.merged_into.in_(roots)))


@dataclass(frozen=True)
class _Split:
    """A bucket as whole UTC days (``first``..``last``, possibly none), whole UTC quarter-hours at its edges
    (``quarters``: [start, end) ranges, from the quarter-hour rollups) and what is left under a quarter-hour at each
    end (``items``: read from the voices; only for edges off the quarter-hours). ``minus_quarters`` and
    ``minus_items`` are taken away: where an edge covers most of a UTC day, the day is counted whole and the few
    hours of it outside the bucket are subtracted (a Paris day is the UTC day less 2 hours, not 22 hours of rows)."""

    first: date | None
    last: date | None
    quarters: tuple[Span, ...]
    items: tuple[Span, ...]
    minus_quarters: tuple[Span, ...] = ()
    minus_items: tuple[Span, ...] = ()


HALF_DAY = timedelta(hours=12)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


QUARTER = timedelta(minutes=15)


def _quarter_ceil(at: datetime) -> datetime:
    floor = utc_quarter(at)
    return floor if floor == at else floor + QUARTER


def _quarters_and_rest(edges: Iterable[Span]) -> tuple[tuple[Span, ...], tuple[Span, ...]]:
    """The whole UTC quarter-hours of each edge, and what is left under a quarter-hour at its ends."""
    quarters: list[Span] = []
    items: list[Span] = []
    for edge in edges:
        if edge.start >= edge.end:
            continue
        q0, q1 = _quarter_ceil(edge.start), utc_quarter(edge.end)
        if q0 < q1:
            quarters.append(Span(q0, q1))
            items += [s for s in (Span(edge.start, q0), Span(q1, edge.end)) if s.start < s.end]
        else:
            items.append(edge)
    return tuple(quarters), tuple(items)


def _split(span: Span, *, subtract: bool = False) -> _Split:
    """How to read a bucket from the rollups. With ``subtract``, an edge longer than half a UTC day is read as
    that whole day less the hours outside the bucket (for sums: counters, and phrase counts ranked in SQL)."""
    start, end = span.start.astimezone(UTC), span.end.astimezone(UTC)
    first_day = start.date() if start == _midnight(start.date()) else start.date() + timedelta(days=1)
    end_day = end.date()  # the first UTC day not wholly inside, unless ``end`` is its midnight
    edges: list[Span] = []
    outside: list[Span] = []
    first: date | None = None
    last: date | None = None
    if first_day < end_day:
        low, high = Span(start, _midnight(first_day)), Span(_midnight(end_day), end)
        if subtract and low.end - low.start > HALF_DAY:
            first_day -= timedelta(days=1)
            outside.append(Span(_midnight(first_day), start))
        else:
            edges.append(low)
        if subtract and high.end - high.start > HALF_DAY:
            end_day += timedelta(days=1)
            outside.append(Span(end, _midnight(end_day)))
        else:
            edges.append(high)
        first, last = first_day, end_day - timedelta(days=1)
    else:
        edges = [Span(start, end)]
    quarters, items = _quarters_and_rest(edges)
    minus_quarters, minus_items = _quarters_and_rest(outside)
    return _Split(first, last, quarters, items, minus_quarters, minus_items)


def _ranges(spans: Iterable[Span]) -> list[Span]:
    """Runs of touching spans, each read through the ``occurred_at`` index on its own (an OR of ranges was seen to
    make SQLite scan the whole table)."""
    merged: list[Span] = []
    for s in sorted(spans, key=lambda s: s.start):
        if merged and s.start <= merged[-1].end:
            merged[-1] = Span(merged[-1].start, max(merged[-1].end, s.end))
        else:
            merged.append(s)
    return merged


def _count_items(session: Session, dim: Dimension, reads: Sequence[tuple[int, Span, int]],
                 out: list[dict[str, Counts]], *, segment: str | None = None) -> None:
    """For each (bucket, span, sign): add (sign 1) or take away (sign -1) the voices of the span (of a segment's
    customers, when given) to or from ``out[bucket][key]``.

    Voices that add the same counters but for their sentiment score (same key, label, answers and kind) are
    tallied as plain integers first and turned into ``Counts`` once per kind of voice (a segment reads all of its
    voices in the period)."""
    keys = FeedbackItem.stage_id if dim == "stage" else FeedbackItem.experiences
    stmt = select(FeedbackItem.occurred_at, keys, FeedbackItem.sentiment_label, FeedbackItem.sentiment_score,
                  FeedbackItem.nps, FeedbackItem.csat, FeedbackItem.ces, FeedbackItem.kind)
    if segment is not None:
        stmt = stmt.where(FeedbackItem.customer_id.in_(segment_customers(segment)))
    tally: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for run in _ranges(span for _, span, _ in reads):
        wanted = [(i, sp, sign) for i, sp, sign in reads if run.start <= sp.start and sp.end <= run.end]
        rows = session.execute(stmt.where(FeedbackItem.occurred_at >= run.start,
                                          FeedbackItem.occurred_at < run.end)).all()
        for at, key, label, score, nps, csat, ces, kind in rows:
            points = round(score * SENTIMENT_SCALE)
            for bucket_key in ([key or UNSTAGED] if dim == "stage" else (key or [])):
                for index, sp, sign in wanted:
                    if sp.start <= at < sp.end:
                        entry = tally[(index, bucket_key, label, nps, csat, ces, kind)]
                        entry[0] += sign
                        entry[1] += sign * points
    for (index, key, label, nps, csat, ces, kind), (n, points) in tally.items():
        if n == 0 and points == 0:
            continue
        one = Counts.of_item(sentiment=label, score=0.0, nps=nps, csat=csat, ces=ces, aided=kind == "aided")
        counts = one.times(n)
        counts.sentiment_points = points
        bucket = out[index]
        bucket[key] = bucket[key].add(counts) if key in bucket else counts


def _ranges_table(ranges: Sequence[tuple[str, int]], time_type: Any) -> Any:
    """Bound ranges as rows (``tag``, ``lo``, ``hi``) to join a rollup with: for each (``name``, ``tag``) of
    ``ranges``, the parameters ``{name}lo`` and ``{name}hi`` of the rollup's time type. A range per row lets the
    database read each from the primary key in one plan (a statement per range, as a ``UNION ALL``, was planned and
    aggregated part by part: about twice the time on PostgreSQL, timed by hand; docs/reporting.md has the bench)."""
    rows = [select(literal(tag).label("tag"), bindparam(f"{name}lo", type_=time_type).label("lo"),
                   bindparam(f"{name}hi", type_=time_type).label("hi")) for name, tag in ranges]
    return (rows[0] if len(rows) == 1 else union_all(*rows)).subquery("ranges")


@lru_cache(maxsize=256)
def _rollup_sums(model: Any, key_name: str, time_name: str, ranges: int, inclusive: bool) -> Executable:
    """The statement summing ``model``'s counters per key over ``ranges`` ranges (``0lo``/``0hi``, ...), with each
    row's range number (``tag``), the ranges joined as rows (``_ranges_table``). Built once per shape and then only
    bound, since building the expression cost more than running the query."""
    key, time_col = getattr(model, key_name), getattr(model, time_name)
    wanted = _ranges_table([(str(i), i) for i in range(ranges)], time_col.type)
    sums = [func.sum(getattr(model, c)).label(c) for c in COUNTER_COLUMNS]
    within = (time_col <= wanted.c.hi) if inclusive else (time_col < wanted.c.hi)
    return (select(key.label("key"), wanted.c.tag, *sums)
            .select_from(wanted).join(model, and_(time_col >= wanted.c.lo, within))
            .group_by(key, wanted.c.tag))


def _sum_rollup(session: Session, model: Any, key_name: str, time_name: str,
                ranges: Sequence[tuple[int, Any, Any, int]], out: list[dict[str, Counts]], *, inclusive: bool) -> None:
    """Add (sign 1) or take away (sign -1) the rollup rows of each (bucket, low, high, sign) to or from
    ``out[bucket]``: days ``low``..``high`` (``inclusive``) or quarter-hours [low, high). Each distinct range is
    read once (trend weeks share their edges: one week's end is the next one's start), by a range scan of the
    primary key (a single scan from the lowest to the highest reads every row between, which for the edges of
    trend weeks is thousands)."""
    if not ranges:
        return
    position: dict[tuple[Any, Any], int] = {}
    users: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, lo, hi, sign in ranges:
        users[position.setdefault((lo, hi), len(position))].append((index, sign))
    distinct = list(position)
    params = {f"{i}{end}": value for i, (lo, hi) in enumerate(distinct) for end, value in (("lo", lo), ("hi", hi))}
    for row in session.execute(_rollup_sums(model, key_name, time_name, len(distinct), inclusive), params):
        counts = Counts(**{c: v or 0 for c, v in zip(COUNTER_COLUMNS, row[2:], strict=True)})
        for index, sign in users[row[1]]:
            bucket = out[index]
            added = counts.negated() if sign < 0 else counts
            bucket[row[0]] = bucket[row[0]].add(added) if row[0] in bucket else added


def counts_by_bucket(session: Session, dim: Dimension, spans: Sequence[Span], *, segment: str | None = None
                     ) -> list[dict[str, Counts]]:
    """For each span (they may overlap: a period and its trend windows), the counters per stage id (or priority
    experience id) of its voices."""
    out: list[dict[str, Counts]] = [{} for _ in spans]
    if not spans:
        return out
    if segment is not None:
        _count_items(session, dim, [(i, span, 1) for i, span in enumerate(spans)], out, segment=segment)
        return out
    splits = [_split(s, subtract=True) for s in spans]
    day_model: Any = StageDay if dim == "stage" else ExperienceDay
    quarter_model: Any = StageQuarter if dim == "stage" else ExperienceQuarter
    key_name = "stage_id" if dim == "stage" else "experience_id"
    _sum_rollup(session, day_model, key_name, "day",
                [(i, sp.first, sp.last, 1) for i, sp in enumerate(splits) if sp.first is not None], out,
                inclusive=True)
    _sum_rollup(session, quarter_model, key_name, "quarter",
                [(i, q.start, q.end, sign) for i, sp in enumerate(splits)
                 for quarters, sign in ((sp.quarters, 1), (sp.minus_quarters, -1)) for q in quarters], out,
                inclusive=False)
    reads = [(i, span, sign) for i, sp in enumerate(splits)
             for items, sign in ((sp.items, 1), (sp.minus_items, -1)) for span in items]
    if reads:
        _count_items(session, dim, reads, out)
    for bucket_counts in out:  # keys of rollup rows without voices (none are written; kept for safety)
        for k in [k for k, c in bucket_counts.items() if c == Counts()]:
            del bucket_counts[k]
    return out


def stage_totals(session: Session, period: Period, *, segment: str | None = None) -> dict[str, Counts]:
    """Counters per stage id over the period."""
    return counts_by_bucket(session, "stage", [period.span()], segment=segment)[0]


def experience_totals(session: Session, period: Period, *, segment: str | None = None) -> dict[str, Counts]:
    """Counters per priority experience over the period."""
    return counts_by_bucket(session, "experience", [period.span()], segment=segment)[0]


def weekly(session: Session, dim: Dimension, period: Period, *, weeks: int = 8, segment: str | None = None
           ) -> list[tuple[date, dict[str, Counts]]]:
    """Counters per key for each 7-day window (days of the period's time zone) ending on ``until``, oldest
    first (windows end on ``until``, not on Sundays)."""
    windows = period.weeks(weeks)
    counts = counts_by_bucket(session, dim, [s for _, s in windows], segment=segment)
    return [(first, c) for (first, _), c in zip(windows, counts, strict=True)]


@dataclass(frozen=True)
class TopPhrase:
    """A key phrase most said about a stage, with the ids of two voices that said it."""

    stage: str
    phrase: str
    count: int
    negative: int
    example_ids: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _phrase_totals(with_days: bool, plus: int, minus: int, *, ranked: bool) -> Executable:
    """Counts (and negative counts) per (stage, phrase) over a split: the day rows from ``first`` to ``last`` (when
    ``with_days``), plus the quarter-hour rows of ``plus`` ranges (``p0lo``/``p0hi``...), less those of ``minus``
    ranges (``m0lo``/``m0hi``...), the ranges joined as rows (``_ranges_table``). ``ranked``: each stage's best
    ``limit`` phrases by count, then phrase; otherwise only the pairs in the expanding parameter ``pairs``, read by
    key (``ix_stage_day_phrases_pair_day``)."""
    d, q = StageDayPhrase, StageQuarterPhrase
    parts: list[Any] = []
    if with_days:
        parts.append(select(d.stage_id, d.phrase, d.count.label("n"), d.negative.label("neg"))
                     .where(d.day >= bindparam("first"), d.day <= bindparam("last")))
    if plus or minus:
        edges = _ranges_table([(f"p{i}", 1) for i in range(plus)] + [(f"m{i}", -1) for i in range(minus)],
                              q.quarter.type)
        parts.append(select(q.stage_id, q.phrase, (q.count * edges.c.tag).label("n"),
                            (q.negative * edges.c.tag).label("neg"))
                     .select_from(edges).join(q, and_(q.quarter >= edges.c.lo, q.quarter < edges.c.hi)))
    if not ranked:
        pairs: Any = bindparam("pairs", expanding=True)
        parts = [part.where(tuple_(part.selected_columns.stage_id, part.selected_columns.phrase).in_(pairs))
                 for part in parts]
    combined: Any = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = combined.subquery()
    grouped = select(rows.c.stage_id, rows.c.phrase, func.sum(rows.c.n).label("total"),
                     func.sum(rows.c.neg).label("negative")).group_by(rows.c.stage_id, rows.c.phrase)
    if not ranked:
        return grouped
    totals = grouped.subquery()
    rank = func.row_number().over(partition_by=totals.c.stage_id,
                                  order_by=(totals.c.total.desc(), totals.c.phrase)).label("rank")
    numbered = select(totals, rank).subquery()
    return select(numbered.c.stage_id, numbered.c.phrase, numbered.c.total, numbered.c.negative) \
        .where(numbered.c.rank <= bindparam("limit"))


def top_phrases_by_stage(session: Session, period: Period, *, limit: int = 5, examples: bool = True
                         ) -> dict[str, list[TopPhrase]]:
    """Each stage's ``limit`` most said phrases over the period, with example voice ids (the most negative and
    the newest, from the phrase rollup; their text is then read by primary key).

    Exact in any time zone, with few reads: one ranked query sums the day rollup over the UTC days of the period
    (an edge longer than half a day counts its whole day) and adds or takes away the quarter-hour rollup of the
    whole quarter-hours at the edges (as ``counts_by_bucket``). Only an edge off the quarter-hours leaves something
    under a quarter-hour, read from the voices: a phrase said there can overtake the ranking, so its sums are read
    by key too, and for each phrase those minutes take away from, the ranking reads one more phrase per stage (of
    ``limit`` + k ranked phrases, at most k lose voices, so the ``limit`` best of them are exact).
    """
    split = _split(period.span(), subtract=True)
    edges: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    taken_from: set[tuple[str, str]] = set()
    stmt = select(FeedbackItem.stage_id, FeedbackItem.key_phrases, FeedbackItem.sentiment_label)
    for spans, sign in ((split.items, 1), (split.minus_items, -1)):
        for span in _ranges(spans):
            for stage, key_phrases, label in session.execute(stmt.where(FeedbackItem.occurred_at >= span.start,
                                                                        FeedbackItem.occurred_at < span.end)):
                for phrase in dict.fromkeys(p[:200] for p in key_phrases or []):
                    pair = (stage or UNSTAGED, phrase)
                    edges[pair][0] += sign
                    edges[pair][1] += sign * (label == "negative")
                    if sign < 0:
                        taken_from.add(pair)
    with_days = split.first is not None and split.last is not None
    params: dict[str, Any] = {"first": split.first, "last": split.last}
    for prefix, quarters in (("p", split.quarters), ("m", split.minus_quarters)):
        for i, q in enumerate(quarters):
            params[f"{prefix}{i}lo"], params[f"{prefix}{i}hi"] = q.start, q.end
    shape = (with_days, len(split.quarters), len(split.minus_quarters))
    days: dict[tuple[str, str], list[int]] = {}
    if any(shape):
        for stage, phrase, count, negative in session.execute(_phrase_totals(*shape, ranked=True),
                                                              {**params, "limit": limit + len(taken_from)}):
            days[(stage, phrase)] = [int(count), int(negative)]
        missing = [pair for pair in edges if pair not in days]
        for chunk in (missing[i:i + 400] for i in range(0, len(missing), 400)):
            for stage, phrase, count, negative in session.execute(_phrase_totals(*shape, ranked=False),
                                                                  {**params, "pairs": chunk}):
                days[(stage, phrase)] = [int(count), int(negative)]
    tally: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for source in (days, edges):
        for pair, (count, negative) in source.items():
            tally[pair][0] += count
            tally[pair][1] += negative
    by_stage: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for (stage, phrase), (count, negative) in tally.items():
        if count > 0:
            by_stage[stage].append((phrase, count, negative))
    chosen = {stage: sorted(items, key=lambda x: (-x[1], x[0]))[:limit] for stage, items in by_stage.items()}
    found: dict[tuple[str, str], tuple[str, str]] = {}
    pairs = [(stage, phrase) for stage, items in chosen.items() for phrase, _, _ in items]
    if examples and pairs:
        first = period.start().astimezone(UTC).date()
        last = (period.end() - timedelta(microseconds=1)).astimezone(UTC).date()
        found = _examples(session, pairs, first, last)
    out: dict[str, list[TopPhrase]] = {}
    for stage, items in chosen.items():
        out[stage] = []
        for phrase, count, negative in items:
            best = found.get((stage, phrase))
            ids = tuple(dict.fromkeys(best)) if best else ()
            out[stage].append(TopPhrase(stage, phrase, count, negative, ids))
    return out


@lru_cache(maxsize=64)
def _examples_statement(pairs: int) -> Executable:
    """Per (stage, phrase) of ``pairs`` bound pairs (``s0``/``p0``...): the most negative voice (lowest score, then
    id) and the newest (latest, then id) of the day rows from ``first`` to ``last``, each one ordered, limited
    probe of ``ix_stage_day_phrases_pair_day``: two short index walks per pair (the newest reads one row), whatever
    the length of the period, instead of every day row of every pair brought back to Python."""
    d = StageDayPhrase
    wanted = union_all(*(select(bindparam(f"s{i}", type_=String).label("stage_id"),
                                bindparam(f"p{i}", type_=String).label("phrase")) for i in range(pairs))
                       ).subquery("wanted")

    def voice(column: Any, *order: Any) -> Any:
        return (select(column)
                .where(d.stage_id == wanted.c.stage_id, d.phrase == wanted.c.phrase,
                       d.day >= bindparam("first"), d.day <= bindparam("last"),
                       d.worst_id.is_not(None), d.newest_id.is_not(None), d.newest_at.is_not(None))
                .order_by(*order).limit(1).scalar_subquery())

    # A row's newest voice happened on its UTC day, so the newest row of the latest day holds the newest voice: the
    # probe walks the pair's index back from ``last`` and stops at its first row, instead of reading every day.
    return select(wanted.c.stage_id, wanted.c.phrase, voice(d.worst_id, d.worst_score, d.worst_id),
                  voice(d.newest_id, d.day.desc(), d.newest_at.desc(), d.newest_id.desc()))


def _examples(session: Session, pairs: list[tuple[str, str]], first: date, last: date
              ) -> dict[tuple[str, str], tuple[str, str]]:
    """(stage, phrase) → (most negative voice id, newest voice id) over the days; pairs with no voice are left
    out."""
    best: dict[tuple[str, str], tuple[str, str]] = {}
    for chunk in (pairs[i:i + 200] for i in range(0, len(pairs), 200)):
        params: dict[str, Any] = {"first": first, "last": last}
        for i, (stage, phrase) in enumerate(chunk):
            params[f"s{i}"], params[f"p{i}"] = stage, phrase
        for stage, phrase, worst, newest in session.execute(_examples_statement(len(chunk)), params):
            if worst is not None and newest is not None:
                best[(stage, phrase)] = (worst, newest)
    return best


def top_phrases(session: Session, stage: str, period: Period, limit: int = 5) -> Sequence[tuple[str, int, int]]:
    """(phrase, count, negative) most said about one stage over the period."""
    return [(p.phrase, p.count, p.negative)
            for p in top_phrases_by_stage(session, period, limit=limit, examples=False).get(stage, [])]


def worst_voice_ids(session: Session, period: Period, per_stage: int = 2) -> dict[str, list[str]]:
    """Each stage's most negative voices of the period (at most one per UTC day: the day's worst), from the
    stage rollup's examples, by score (the caller reads them with ``texts``, which can keep negative ones)."""
    first, last = period.start().astimezone(UTC).date(), (period.end() - timedelta(microseconds=1)).astimezone(
        UTC).date()
    rank = func.row_number().over(partition_by=StageDay.stage_id,
                                  order_by=(StageDay.worst_score, StageDay.worst_id)).label("rank")
    ranked = (select(StageDay.stage_id, StageDay.worst_id, rank)
              .where(StageDay.day >= first, StageDay.day <= last, StageDay.negative > 0,
                     StageDay.worst_id.is_not(None)).subquery())
    out: dict[str, list[str]] = defaultdict(list)
    for stage, worst in session.execute(select(ranked.c.stage_id, ranked.c.worst_id)
                                        .where(ranked.c.rank <= per_stage).order_by(ranked.c.stage_id, ranked.c.rank)):
        out[stage].append(worst)
    return out


def texts(session: Session, feedback_ids: Iterable[str], span: Span | None = None, *, label: str | None = None
          ) -> dict[str, str]:
    """Redacted verbatims by id (primary-key reads); not empty, and only those inside ``span`` (and with the
    sentiment ``label``) when given."""
    ids = list(dict.fromkeys(feedback_ids))
    if not ids:
        return {}
    stmt = select(FeedbackItem.feedback_id, FeedbackItem.text).where(FeedbackItem.feedback_id.in_(ids),
                                                                       FeedbackItem.text != "")
    if span is not None:
        stmt = stmt.where(FeedbackItem.occurred_at >= span.start, FeedbackItem.occurred_at < span.end)
    if label is not None:
        stmt = stmt.where(FeedbackItem.sentiment_label == label)
    return {str(i): str(t) for i, t in session.execute(stmt)}
