"""MQTT bus against a real mosquitto on a free loopback port (skipped with a reason if it is not installed)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from bots.broker import LocalBroker, find_mosquitto, resolve_broker, start_mosquitto
from bots.bus import Bus, bus_from_config, decode, parse_mqtt_url, shared_topic, subscribe
from chains.devnet.process import free_port


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[LocalBroker]:
    if find_mosquitto() is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto); bus tests need a real broker")
    broker = start_mosquitto(workdir=tmp_path / "mqtt")
    try:
        yield broker
    finally:
        broker.stop()


async def _collect(client, n: int, timeout: float = 5.0) -> list[tuple[str, dict]]:  # type: ignore[no-untyped-def]
    got: list[tuple[str, dict]] = []

    async def run() -> None:
        async for msg in client.messages:
            got.append((str(msg.topic), decode(msg)))
            if len(got) >= n:
                return

    await asyncio.wait_for(run(), timeout)
    return got


def test_url_and_share_helpers() -> None:
    assert parse_mqtt_url("mqtt://u:p@127.0.0.1:1999") == ("127.0.0.1", 1999, "u", "p")
    assert parse_mqtt_url("localhost") == ("localhost", 1883, None, None)
    with pytest.raises(ValueError, match="mqtt://host"):
        parse_mqtt_url("http://x")
    assert shared_topic("rtrm", "rtrm/actions/#") == "$share/rtrm/rtrm/actions/#"
    with pytest.raises(ValueError):
        shared_topic("a/b", "t")


async def test_topics_and_retained_risk(mosquitto: LocalBroker) -> None:
    bus = await Bus(mosquitto.url).start()
    try:
        bus.risk("keeper", {"delta": 1.5, "value": "12.34"})
        bus.oracle("arbitrum", {"asset": "ETH", "price": "3000"})
        bus.action("liquidator", {"kind": "bid"})
        bus.alert({"kind": "stale_oracle"})
        assert await bus.wait_flushed(5)
        # a late subscriber still gets the retained risk message
        async with subscribe(mosquitto.url, ["rtrm/risk/+"]) as client:
            topic, body = (await _collect(client, 1))[0]
        assert topic == "rtrm/risk/keeper" and body == {"delta": 1.5, "value": "12.34"}
        assert bus.stats().delivered == 4 and bus.stats().dropped == 0
    finally:
        await bus.stop()


async def test_broker_killed_midrun_messages_buffered_then_delivered(mosquitto: LocalBroker) -> None:
    bus = await Bus(mosquitto.url, reconnect_s=0.1, max_reconnect_s=0.3, publish_timeout_s=1.0).start()
    try:
        bus.risk("before", {"i": -1})
        assert await bus.wait_flushed(5)
        mosquitto.stop_process_only()
        for i in range(10):
            bus.risk(f"e{i}", {"i": i})  # never blocks, broker or not
            bus.action("hedger", {"i": i})
        for _ in range(60):  # the client notices the dead socket on its next publish (bounded by its timeout)
            if not bus.connected:
                break
            await asyncio.sleep(0.05)
        assert not bus.connected and bus.stats().buffered >= 19, bus.stats()
        mosquitto.restart()
        assert await bus.wait_flushed(10), bus.stats()
        async with subscribe(mosquitto.url, ["rtrm/risk/+"]) as client:
            got = await _collect(client, 10)
        assert sorted(b["i"] for _, b in got) == list(range(10))  # the restarted broker lost "before"
        stats = bus.stats()
        assert stats.delivered >= 21 and stats.dropped == 0 and stats.reconnects >= 1
    finally:
        await bus.stop()


async def test_overflow_is_bounded_counted_and_reported() -> None:
    port = free_port()  # nothing listens here: the broker is "down" from the start
    bus = await Bus(f"mqtt://127.0.0.1:{port}", buffer_size=5, reconnect_s=0.05).start()
    try:
        for i in range(8):
            bus.action("liquidator", {"i": i})
        await asyncio.sleep(0.2)
        stats = bus.stats()
        assert stats.buffered == 5 and stats.dropped == 3 and not stats.connected
        assert [decode_bytes(m.payload)["i"] for m in bus.buffer] == [3, 4, 5, 6, 7]
    finally:
        await bus.stop()


def decode_bytes(raw: bytes) -> dict:  # type: ignore[type-arg]
    import json

    return dict(json.loads(raw))


async def test_overflow_alert_sent_after_reconnect(mosquitto: LocalBroker) -> None:
    mosquitto.stop_process_only()
    bus = await Bus(mosquitto.url, buffer_size=3, reconnect_s=0.05, max_reconnect_s=0.1).start()
    try:
        for i in range(5):
            bus.action("claimer", {"i": i})
        await asyncio.sleep(0.2)
        mosquitto.restart()
        async with subscribe(mosquitto.url, ["rtrm/alerts", "rtrm/actions/#"]) as client:
            got = await _collect(client, 4, timeout=10)
        assert got[0] == ("rtrm/alerts", {"kind": "bus_overflow", "dropped": 2, "at": got[0][1]["at"]})
        assert [b["i"] for _, b in got[1:]] == [2, 3, 4]
    finally:
        await bus.stop()


async def test_shared_subscription_splits_messages_between_workers(mosquitto: LocalBroker) -> None:
    topic = "rtrm/actions/#"
    async with subscribe(mosquitto.url, [topic], group="rtrm") as w1, \
            subscribe(mosquitto.url, [topic], group="rtrm") as w2:
        bus = await Bus(mosquitto.url).start()
        try:
            for i in range(20):
                bus.action("liquidator", {"i": i})
            assert await bus.wait_flushed(5)
        finally:
            await bus.stop()
        seen: list[list[int]] = [[], []]

        async def drain(idx: int, client) -> None:  # type: ignore[no-untyped-def]
            async for msg in client.messages:
                seen[idx].append(decode(msg)["i"])

        tasks = [asyncio.create_task(drain(0, w1)), asyncio.create_task(drain(1, w2))]
        for _ in range(100):
            if len(seen[0]) + len(seen[1]) >= 20:
                break
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted(seen[0] + seen[1]) == list(range(20))  # every message exactly once across the group
    assert seen[0] and seen[1]  # and both workers got a share


def test_resolve_broker_prefers_config_then_mosquitto(tmp_path: Path) -> None:
    url, handle, why = resolve_broker("mqtt://example:1883")
    assert url == "mqtt://example:1883" and handle is None and "configured" in why
    if find_mosquitto() is None:
        url, handle, why = resolve_broker(None)
        assert url is None and "bus disabled" in why
        return
    url, handle, why = resolve_broker(None, tmp_path / "b")
    try:
        assert handle is not None and url == handle.url and "started loopback broker" in why
    finally:
        if handle is not None:
            handle.stop()


async def test_bus_from_config_starts_and_owns_a_loopback_broker(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto binary not found (apt-get install mosquitto)")
    bus, broker, why = await bus_from_config(None, workdir=tmp_path / "b")
    assert bus is not None and broker is not None and "started loopback broker" in why
    try:
        bus.risk("keeper", {"delta": 2})
        assert await bus.wait_flushed(5)
        async with subscribe(broker.url, ["rtrm/risk/keeper"]) as client:
            assert (await _collect(client, 1))[0][1] == {"delta": 2}
    finally:
        await bus.stop()
        broker.stop()
    assert broker.proc.poll() is not None  # the child is gone
