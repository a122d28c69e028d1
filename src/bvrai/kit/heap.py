"""Keeping the garbage collector off the objects a process keeps for its whole life.

A media process imports pipecat, SQLAlchemy, FastAPI and the providers' SDKs: hundreds of thousands
of objects that live as long as the process. CPython's full collections walk every one of them; with
50 calls on a process they came every few seconds and took 80-280 ms each, during which no call's
audio went out (gaps in ``bench/concurrency.py``). ``gc.freeze()`` moves everything alive at start-up
into a generation collections skip; what calls allocate is collected as before. Import what the
first call would import before freezing, so that it is frozen with the rest.

What is left for a full collection to walk is the calls' own objects, nearly all of them alive: at 50
calls a full collection walked 86,000 and 162,000 objects (37 and 90 ms, every call's audio held up
meanwhile) and found 1,578 and 110 of them garbage. A call's objects live as long as the call, so
the younger collections cannot free its cycles and a full one finds them whenever it comes; coming
ten times more rarely (a full collection considered after 100 middle-generation ones instead of 10,
CPython's default) costs no longer pauses, since their length follows the live objects, and holds
the cycles of the calls that ended meanwhile a little longer: a few MB.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD, MIDDLE_THRESHOLD = 700, 10  # CPython's defaults
FULL_THRESHOLD = 100  # CPython's default is 10


def freeze_startup_heap() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, FULL_THRESHOLD)
