"""The unaided sources: one small class per provider that says which request to make and how to read a page.

Each source walks its listing newest first: ``first`` is the opening request, ``parse`` turns one response
into normalised items and the request for the next (older) page, if any. The runner (``service.py``) stops
at the first item older than the cursor, so a run reads only what is new (plus a few already-seen items,
which dedupe on ``(provider, external_id)``).
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, ClassVar
from urllib.parse import quote

import feedparser  # type: ignore[import-untyped]

from services.ingest.feedback.schemas import FeedbackCreate
from services.ingest.pollers.auth import (
    AppStoreConnectToken,
    GoogleServiceAccountToken,
    cached_token_source,
    read_secret,
)
from services.ingest.pollers.config import SourceConfig
from services.ingest.provider_api import ApiResponse
from services.ingest.webhooks.adapters.base import (
    SHAPE_ERRORS,
    PayloadRejected,
    build_feedback,
    parse_time,
    refused_unless_shaped,
)

_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?([a-z]+)"?')


@dataclass(frozen=True)
class PageRequest:
    """One GET to make."""

    url: str
    params: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Page:
    """What one response held."""

    items: list[FeedbackCreate]
    next: PageRequest | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)
    """(external id, reason) of entries that could not be mapped."""
    state: dict[str, Any] = field(default_factory=dict)
    """Cursor fields this page sets (an RSS feed's ETag ...)."""
    not_modified: bool = False


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "p", "div", "li"}:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(markup: str) -> str:
    """Readable text of an HTML fragment (Mastodon statuses, feed summaries)."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    text = html.unescape("".join(parser.parts))
    return re.sub(r"\n{3,}", "\n\n", re.sub(r"[ \t]+", " ", text)).strip()


def link_header(value: str | None) -> dict[str, str]:
    """``Link`` header → {rel: url}."""
    return {rel: url for url, rel in _LINK.findall(value or "")}


class PollSource:
    """Base of every source; subclasses set ``kind`` and implement ``first`` and ``parse``."""

    kind: ClassVar[str]
    default_base: ClassVar[str] = ""
    default_source: ClassVar[str] = "review"

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.provider = config.provider or config.kind
        self.base = (config.base_url or self.default_base).rstrip("/")

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        """The opening request of a run."""
        raise NotImplementedError

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        """Items of one response, and the next (older) page's request."""
        raise NotImplementedError

    def read(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        """``parse``, with a page that is not the documented shape refused as ``PayloadRejected``."""
        with refused_unless_shaped(f"a {self.kind} page"):
            return self.parse(response, state)

    # -- shared -----------------------------------------------------------------------------------------------
    def headers(self) -> dict[str, str]:
        """Headers every request carries (user agent, bearer token when configured)."""
        headers = {"User-Agent": self.config.user_agent, "Accept": "application/json"}
        token = self.bearer_token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    def bearer_token(self) -> str | None:
        """The bearer token: minted from a key where the source supports it, else ``token_env``'s value."""
        return self.config.secret(self.config.token_env)

    def item(self, doc: dict[str, Any], rejected: list[tuple[str, str]]) -> FeedbackCreate | None:
        """Validate one normalised item; a bad entry is noted and skipped, never fatal for the run."""
        doc.setdefault("provider", self.provider)
        doc.setdefault("source", self.config.source or self.default_source)
        doc.setdefault("kind", "unaided")
        try:
            return build_feedback(doc, where=f"{self.config.name} {doc.get('external_id')}")
        except PayloadRejected as exc:
            rejected.append((str(doc.get("external_id")), exc.message))
            return None

    def collect(self, entries: list[Any], mapper: Callable[[Any], dict[str, Any] | None]) -> tuple[
            list[FeedbackCreate], list[tuple[str, str]]]:
        """Map entries to items, noting the ones that cannot be mapped."""
        items: list[FeedbackCreate] = []
        rejected: list[tuple[str, str]] = []
        for entry in entries:
            if not isinstance(entry, dict):
                rejected.append(("?", "entry is not an object"))
                continue
            try:
                doc = mapper(entry)
            except SHAPE_ERRORS as exc:
                rejected.append((str(entry.get("id", "?")), f"{type(exc).__name__}: {exc}"))
                continue
            if doc is not None:
                made = self.item(doc, rejected)
                if made is not None:
                    items.append(made)
        return items, rejected


class TrustpilotSource(PollSource):
    """Trustpilot business-unit reviews (``GET /v1/business-units/{id}/reviews``), newest first."""

    kind: ClassVar[str] = "trustpilot"
    default_base: ClassVar[str] = "https://api.trustpilot.com"

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        params: dict[str, Any] = {"perPage": self.config.page_size or 100, "orderBy": "createdat.desc"}
        key = self.config.secret(self.config.api_key_env)
        if key:
            params["apikey"] = key
        return PageRequest(f"{self.base}/v1/business-units/{self.config.business_unit_id}/reviews", params,
                           self.headers())

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        body = response.json()
        items, rejected = self.collect(body.get("reviews") or [], self._map)
        next_link = next((link.get("href") for link in body.get("links") or []
                          if isinstance(link, dict) and link.get("rel") == "next-page"), None)
        nxt = None
        if next_link:
            key = self.config.secret(self.config.api_key_env)
            nxt = PageRequest(next_link, {"apikey": key} if key and "apikey=" not in next_link else {}, self.headers())
        return Page(items, nxt, rejected)

    def _map(self, review: dict[str, Any]) -> dict[str, Any]:
        consumer = review.get("consumer") or {}
        title, text = review.get("title") or "", review.get("text") or ""
        return {
            "external_id": str(review["id"]),
            "text": f"{title}\n\n{text}".strip() if title and title not in text else text,
            "customer": {"handle": consumer.get("displayName")} if consumer.get("displayName") else {},
            "scores": {"rating": review.get("stars")},
            "occurred_at": review.get("createdAt"),
            "metadata": {"business_unit_id": self.config.business_unit_id, "review": review},
        }


class AppStoreSource(PollSource):
    """App Store Connect customer reviews (``GET /v1/apps/{id}/customerReviews?sort=-createdDate``)."""

    kind: ClassVar[str] = "appstore"
    default_base: ClassVar[str] = "https://api.appstoreconnect.apple.com"

    def bearer_token(self) -> str | None:
        config = self.config
        if not (config.key_id and config.issuer_id):
            return super().bearer_token()
        pem = read_secret(file=config.private_key_file, env=config.private_key_env, what="App Store Connect key")
        key = ("appstore", config.name, config.key_id, config.issuer_id, hashlib.sha256(pem.encode()).hexdigest())
        return cached_token_source(key, lambda: AppStoreConnectToken(config.key_id or "", config.issuer_id or "",
                                                                     pem)).token()

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        params = {"sort": "-createdDate", "limit": self.config.page_size or 200}
        return PageRequest(f"{self.base}/v1/apps/{self.config.app_id}/customerReviews", params, self.headers())

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        body = response.json()
        items, rejected = self.collect(body.get("data") or [], self._map)
        next_url = (body.get("links") or {}).get("next")
        return Page(items, PageRequest(next_url, {}, self.headers()) if next_url else None, rejected)

    def _map(self, review: dict[str, Any]) -> dict[str, Any]:
        attributes = review.get("attributes") or {}
        title, body = attributes.get("title") or "", attributes.get("body") or ""
        return {
            "external_id": str(review["id"]),
            "text": f"{title}\n\n{body}".strip(),
            "customer": {"handle": attributes["reviewerNickname"]} if attributes.get("reviewerNickname") else {},
            "scores": {"rating": attributes.get("rating")},
            "occurred_at": attributes.get("createdDate"),
            "metadata": {"app_id": self.config.app_id, "territory": attributes.get("territory"), "review": review},
        }


class GooglePlaySource(PollSource):
    """Google Play reviews (``GET androidpublisher/v3/applications/{package}/reviews``), token-paginated."""

    kind: ClassVar[str] = "googleplay"
    default_base: ClassVar[str] = "https://androidpublisher.googleapis.com"

    def bearer_token(self) -> str | None:
        config = self.config
        if not (config.service_account_file or config.service_account_env):
            return super().bearer_token()
        text = read_secret(file=config.service_account_file, env=config.service_account_env,
                           what="Google service account key")
        key = ("googleplay", config.name, hashlib.sha256(text.encode()).hexdigest())
        return cached_token_source(key, lambda: GoogleServiceAccountToken.from_json(text)).token()

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        return PageRequest(
            f"{self.base}/androidpublisher/v3/applications/{self.config.package_name}/reviews",
            {"maxResults": self.config.page_size or 100}, self.headers(),
        )

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        body = response.json()
        items, rejected = self.collect(body.get("reviews") or [], self._map)
        token = (body.get("tokenPagination") or {}).get("nextPageToken")
        nxt = None
        if token:
            first = self.first(state)
            nxt = PageRequest(first.url, {**first.params, "token": token}, first.headers)
        return Page(items, nxt, rejected)

    def _map(self, review: dict[str, Any]) -> dict[str, Any] | None:
        user = next((c["userComment"] for c in review.get("comments") or [] if "userComment" in c), None)
        if user is None:
            return None
        modified = user.get("lastModified") or {}
        seconds = float(modified.get("seconds", 0)) + int(modified.get("nanos", 0)) / 1e9
        return {
            "external_id": str(review["reviewId"]),
            "text": str(user.get("text") or "").replace("\t", "\n").strip(),
            "customer": {"handle": review["authorName"]} if review.get("authorName") else {},
            "scores": {"rating": user.get("starRating")},
            "occurred_at": datetime.fromtimestamp(seconds, UTC).isoformat() if seconds else None,
            "metadata": {"package_name": self.config.package_name, "review": review},
        }


class RedditSource(PollSource):
    """Reddit listings: a subreddit's ``/new`` or a ``/search`` sorted by new, ``after``-paginated."""

    kind: ClassVar[str] = "reddit"
    default_base: ClassVar[str] = "https://www.reddit.com"
    default_source: ClassVar[str] = "social"

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        limit = self.config.page_size or 100
        if self.config.subreddit and not self.config.search:
            return PageRequest(f"{self.base}/r/{self.config.subreddit}/new.json", {"limit": limit, "raw_json": 1},
                               self.headers())
        path = f"/r/{self.config.subreddit}/search.json" if self.config.subreddit else "/search.json"
        params = {"q": self.config.search, "sort": "new", "limit": limit, "raw_json": 1,
                  **({"restrict_sr": 1} if self.config.subreddit else {})}
        return PageRequest(f"{self.base}{path}", params, self.headers())

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        listing = (response.json() or {}).get("data") or {}
        items, rejected = self.collect([c.get("data") for c in listing.get("children") or []
                                        if isinstance(c, dict)], self._map)
        after = listing.get("after")
        nxt = None
        if after:
            first = self.first(state)
            nxt = PageRequest(first.url, {**first.params, "after": after}, first.headers)
        return Page(items, nxt, rejected)

    def _map(self, post: dict[str, Any]) -> dict[str, Any]:
        text = "\n\n".join(p for p in (post.get("title") or "", post.get("selftext") or post.get("body") or "") if p)
        author = post.get("author")
        return {
            "external_id": str(post.get("name") or post["id"]),
            "text": text,
            "customer": {"handle": f"u/{author}"} if author and author != "[deleted]" else {},
            "occurred_at": post.get("created_utc"),
            "metadata": {"subreddit": post.get("subreddit"), "permalink": post.get("permalink"),
                         "score": post.get("score"), "num_comments": post.get("num_comments"), "post": post},
        }


class MastodonSource(PollSource):
    """Mastodon hashtag or account timelines, ``Link``-header paginated."""

    kind: ClassVar[str] = "mastodon"
    default_source: ClassVar[str] = "social"

    def __init__(self, config: SourceConfig) -> None:
        super().__init__(config)
        self.base = (config.base_url or config.instance or "").rstrip("/")

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        limit = self.config.page_size or 40
        if self.config.hashtag:
            url = f"{self.base}/api/v1/timelines/tag/{quote(self.config.hashtag.lstrip('#'), safe='')}"
        else:
            url = f"{self.base}/api/v1/accounts/{self.config.account_id}/statuses"
        return PageRequest(url, {"limit": limit}, self.headers())

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        statuses = response.json() or []
        items, rejected = self.collect(statuses if isinstance(statuses, list) else [], self._map)
        next_url = link_header(response.headers.get("link")).get("next")
        return Page(items, PageRequest(next_url, {}, self.headers()) if next_url and statuses else None, rejected)

    def _map(self, status: dict[str, Any]) -> dict[str, Any] | None:
        if status.get("reblog"):
            return None  # a boost repeats someone else's words; the original is in the timeline on its own
        account = status.get("account") or {}
        spoiler = status.get("spoiler_text") or ""
        text = html_text(status.get("content") or "")
        return {
            "external_id": str(status.get("uri") or status["id"])[:200],
            "text": f"{spoiler}\n\n{text}".strip() if spoiler else text,
            "customer": {"handle": f"@{account['acct']}"} if account.get("acct") else {},
            "occurred_at": status.get("created_at"),
            "metadata": {"instance": self.base, "url": status.get("url"), "language": status.get("language"),
                         "status": status},
        }


class FeedSource(PollSource):
    """Any RSS or Atom feed (parsed by ``feedparser``), fetched conditionally with ETag / Last-Modified."""

    kind: ClassVar[str] = "rss"
    default_source: ClassVar[str] = "social"

    def first(self, state: Mapping[str, Any]) -> PageRequest:
        accept = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
        headers = {**self.headers(), "Accept": accept}
        if state.get("etag"):
            headers["If-None-Match"] = str(state["etag"])
        if state.get("modified"):
            headers["If-Modified-Since"] = str(state["modified"])
        return PageRequest(str(self.config.url), {}, headers)

    def parse(self, response: ApiResponse, state: Mapping[str, Any]) -> Page:
        if response.status == 304:
            return Page([], None, not_modified=True)
        feed = feedparser.parse(response.content, response_headers={"content-location": response.url})
        items, rejected = self.collect(list(feed.entries), self._map)
        new_state = {k: v for k, v in (("etag", response.headers.get("etag")),
                                       ("modified", response.headers.get("last-modified"))) if v}
        return Page(items, None, rejected, state=new_state)

    def _map(self, entry: Any) -> dict[str, Any]:
        body = ""
        if entry.get("content"):
            body = entry["content"][0].get("value", "")
        body = html_text(body or entry.get("summary", "") or "")
        title = html_text(entry.get("title", "") or "")
        link = entry.get("link")
        identity = entry.get("id") or link or hashlib.sha256(f"{title}\n{body}".encode()).hexdigest()
        # dict.get: FeedParserDict maps a missing "updated*" onto "published*" with a DeprecationWarning.
        when = dict.get(entry, "published") or dict.get(entry, "updated")
        parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
        stamp = datetime(*parsed[:6]).replace(tzinfo=UTC) if parsed else parse_time(when)
        return {
            "external_id": str(identity)[:200],
            "text": f"{title}\n\n{body}".strip() if body and title and title not in body else (body or title),
            "customer": {"handle": entry["author"]} if entry.get("author") else {},
            "occurred_at": stamp.isoformat() if stamp else None,
            "metadata": {"feed": self.config.url, "link": link, "entry_id": entry.get("id"), "title": title},
        }


SOURCES: dict[str, type[PollSource]] = {
    cls.kind: cls for cls in (TrustpilotSource, AppStoreSource, GooglePlaySource, RedditSource, MastodonSource,
                              FeedSource)
}


def source_for(config: SourceConfig) -> PollSource:
    """The source object for one configured source."""
    return SOURCES[config.kind](config)
