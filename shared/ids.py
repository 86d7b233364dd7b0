"""Fast, time-ordered unique ids for items and events.

Ids start with the time they were made (milliseconds since the Unix epoch), then random bits: rows written
together land together at the end of the raw store's and outbox's indexes on them, instead of on random
pages all over the index (with random ids, each committed item rewrote a page of each of those indexes:
most of the database's write work at high rates). Event ids are UUIDs of version 7 (RFC 9562), the
standard layout for exactly this.

``uuid.uuid4()`` reads the OS's random source on every call, which costs more than the rest of building an
event. Ids need uniqueness, not secrecy (nothing is authorised by knowing one), so the random bits come from a
generator seeded from the OS's random source, reseeded in every forked child. An id tells when it was made,
which the item's ``received_at`` says anyway.
"""

from __future__ import annotations

import os
import random
import time

_random = random.Random(os.urandom(32))  # noqa: S311 - unique ids, not secrets


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex(digits: int) -> str:
    """``digits`` random hex digits (trace and span ids): ``secrets.token_hex`` costs a system call each."""
    return f"{_random.getrandbits(digits * 4):0{digits}x}"


def time_ordered_hex() -> str:
    """32 hex digits: 12 of the time in milliseconds, 20 random (80 bits)."""
    return f"{time.time_ns() // 1_000_000:012x}{_random.getrandbits(80):020x}"


def event_id() -> str:
    """A version 7 UUID (RFC 9562) in canonical form: 48 bits of Unix time in milliseconds, the version (7),
    74 random bits and the variant; built without the ``uuid.UUID`` object, which costs several times the
    formatting."""
    bits = _random.getrandbits(74)
    h = (f"{time.time_ns() // 1_000_000:012x}7{bits >> 62:03x}"
         f"{0x8000_0000_0000_0000 | (bits & 0x3FFF_FFFF_FFFF_FFFF):016x}")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
