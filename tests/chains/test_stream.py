import asyncio

import pytest

from chains.events import Freshness, Lagged
from chains.stream import EventStream


def _ev(i: int) -> Freshness:
    return Freshness("eth", head_age_s=float(i), last_read_age_s=0.0)


async def test_fast_consumer_sees_everything_in_order() -> None:
    stream = EventStream("eth")
    sub = stream.subscribe(maxsize=100)
    for i in range(50):
        stream.publish(_ev(i))
    got = [await sub.get() for _ in range(50)]
    assert [e.head_age_s for e in got] == [float(i) for i in range(50)]  # type: ignore[union-attr]


async def test_slow_consumer_is_told_it_lagged_and_how_much() -> None:
    stream = EventStream("eth")
    slow = stream.subscribe(maxsize=10)
    fast = stream.subscribe(maxsize=1000)
    for i in range(25):
        stream.publish(_ev(i))
    first = await slow.get()
    assert isinstance(first, Lagged)
    rest = [await slow.get() for _ in range(len(slow))]
    # nothing is lost silently: missed + delivered == published
    assert first.missed + len(rest) == 25
    assert slow.missed_total == first.missed
    assert [e.head_age_s for e in rest][-1] == 24.0  # type: ignore[union-attr]
    assert len(fast) == 25  # one slow consumer never affects another


async def test_close_ends_iteration() -> None:
    stream = EventStream("eth")
    sub = stream.subscribe(maxsize=4)
    stream.publish(_ev(1))
    stream.close()
    seen = [e async for e in sub]
    assert len(seen) == 1


async def test_consumer_waits_for_events() -> None:
    stream = EventStream("eth")
    sub = stream.subscribe()
    task = asyncio.create_task(sub.get())
    await asyncio.sleep(0.01)
    assert not task.done()
    stream.publish(_ev(7))
    assert (await asyncio.wait_for(task, 1)).head_age_s == 7.0  # type: ignore[union-attr]


def test_tiny_queue_rejected() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        EventStream("eth").subscribe(maxsize=1)
