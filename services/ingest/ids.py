"""Fast unique ids for items and events.

``uuid.uuid4()`` reads the OS's random source on every call, which costs more than the rest of building an
event. Ids need uniqueness, not secrecy (nothing is authorised by knowing one), so they come from a generator
seeded from the OS's random source, reseeded in every forked child.
"""

from __future__ import annotations

import os
import random
import uuid

_random = random.Random(os.urandom(32))  # noqa: S311 - unique ids, not secrets


def _reseed() -> None:
    _random.seed(os.urandom(32))


os.register_at_fork(after_in_child=_reseed)


def random_hex() -> str:
    """32 random hex digits."""
    return f"{_random.getrandbits(128):032x}"


def event_id() -> str:
    """A UUID (version 4 layout) for a CloudEvent id."""
    return str(uuid.UUID(int=_random.getrandbits(128), version=4))
