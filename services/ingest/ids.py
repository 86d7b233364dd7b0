"""Fast unique ids for items and events.

``uuid.uuid4()`` reads the OS's random source on every call, which costs more than the rest of building an
event. Ids need uniqueness, not secrecy (nothing is authorised by knowing one), so they come from a generator
seeded from the OS's random source, reseeded in every forked child.
"""

from __future__ import annotations

import os
import random

_random = random.Random(os.urandom(32))  # noqa: S311 - unique ids, not secrets


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex() -> str:
    """32 random hex digits."""
    return f"{_random.getrandbits(128):032x}"


_UUID4_CLEAR = ~(0xF000 << 64) & ~(0xC000 << 48)
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
"""The version (4) and variant (RFC 4122) bits, as ``uuid.UUID(int=..., version=4)`` sets them."""


def event_id() -> str:
    """A UUID (version 4 layout) for a CloudEvent id: ``str(uuid.UUID(int=bits, version=4))``, without the
    ``UUID`` object, which costs several times the formatting."""
    h = f"{(_random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
