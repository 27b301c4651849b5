"""The MQTT bus: JSON to `rtrm/<chain>/oracle`, `rtrm/risk/<entity>`, `rtrm/actions/<bot>`, `rtrm/alerts`.

Why a buffer in front of the client: the engine must never wait on the broker (a liquidation does not care
whether a dashboard is listening). `publish()` is synchronous and only appends to a bounded deque; a background
task drains it while connected, re-queues the message it was sending when the connection drops, reconnects
with back-off and flushes. When the deque is full the oldest message is dropped and counted; the count is
reported (log + an `rtrm/alerts` message) once the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiomqtt
from loguru import logger

from bots.broker import LocalBroker, resolve_broker


@dataclass(frozen=True, slots=True)
class BusMessage:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class BusStats:
    connected: bool
    buffered: int
    delivered: int
    dropped: int
    reconnects: int


def parse_mqtt_url(url: str) -> tuple[str, int, str | None, str | None]:
    """`mqtt://[user:pass@]host[:port]` → (host, port, user, password)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
        raise ValueError(f"mqtt url {url!r} must look like mqtt://host:1883")
    return parts.hostname, parts.port or 1883, parts.username, parts.password


def to_json(payload: Mapping[str, Any]) -> bytes:
    """Decimals and datetimes as strings: exact amounts stay exact for consumers."""
    def default(o: object) -> object:
        if isinstance(o, datetime):
            return o.isoformat()
        return str(o)

    return json.dumps(payload, default=default, separators=(",", ":")).encode()


def shared_topic(group: str, topic: str) -> str:
    """MQTT 5 shared subscription: brokers hand each message to one subscriber of `group` (worker scale-out)."""
    if not group or any(c in group for c in "/+#"):
        raise ValueError(f"share group {group!r} must be non-empty without '/', '+' or '#'")
    return f"$share/{group}/{topic}"


class Bus:
    """Fire-and-forget publisher with a bounded buffer; `start()` it on the engine's loop, `stop()` at exit."""

    def __init__(self, url: str, *, prefix: str = "rtrm", buffer_size: int = 10_000, client_id: str | None = None,
                 reconnect_s: float = 0.5, max_reconnect_s: float = 5.0, publish_timeout_s: float = 5.0,
                 heartbeat_s: float = 1.0) -> None:
        if buffer_size < 1:
            raise ValueError("bus buffer_size must be >= 1")
        self.host, self.port, self._user, self._password = parse_mqtt_url(url)
        self.prefix = prefix.strip("/")
        self.buffer: deque[BusMessage] = deque()
        self.buffer_size = buffer_size
        self.client_id = client_id or f"rtrm-{uuid.uuid4().hex[:8]}"
        self.reconnect_s, self.max_reconnect_s, self.publish_timeout_s = reconnect_s, max_reconnect_s, publish_timeout_s
        self.heartbeat_s = heartbeat_s  # idle this long → a heartbeat on `<prefix>/health/bus` (dead broker check)
        self.connected = False
        self.delivered = 0
        self.dropped = 0
        self.reconnects = 0
        self._unreported_drops = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # ------------------------------------------------------------------ publishing (never blocks)
    def publish(self, topic: str, payload: Mapping[str, Any], *, qos: int = 1, retain: bool = False) -> None:
        if len(self.buffer) >= self.buffer_size:
            self.buffer.popleft()
            self.dropped += 1
            self._unreported_drops += 1
        self.buffer.append(BusMessage(f"{self.prefix}/{topic}", to_json(payload), qos, retain))
        self._wake.set()

    def oracle(self, chain: str, payload: Mapping[str, Any]) -> None:
        self.publish(f"{chain}/oracle", payload)

    def risk(self, entity: str, payload: Mapping[str, Any]) -> None:
        """Latest risk per entity is retained: a dashboard connecting later sees it at once."""
        self.publish(f"risk/{entity}", payload, qos=1, retain=True)

    def action(self, bot: str, payload: Mapping[str, Any]) -> None:
        self.publish(f"actions/{bot}", payload)

    def alert(self, payload: Mapping[str, Any]) -> None:
        self.publish("alerts", payload)

    def stats(self) -> BusStats:
        return BusStats(self.connected, len(self.buffer), self.delivered, self.dropped, self.reconnects)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> Bus:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="mqtt-bus")
        return self

    async def stop(self, flush_timeout: float = 2.0) -> None:
        """Give the buffer `flush_timeout` seconds to drain, then stop the sender task."""
        deadline = asyncio.get_running_loop().time() + flush_timeout
        while self.buffer and self.connected and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        self.connected = False

    async def wait_flushed(self, timeout: float = 10.0) -> bool:
        """True once the buffer is empty (tests, and graceful shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.buffer and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        return not self.buffer

    async def _run(self) -> None:
        delay = self.reconnect_s
        while not self._stopping:
            try:
                async with aiomqtt.Client(self.host, self.port, identifier=self.client_id, username=self._user,
                                          password=self._password, protocol=aiomqtt.ProtocolVersion.V5,
                                          timeout=self.publish_timeout_s, max_inflight_messages=100) as client:
                    if self.reconnects or self.delivered:
                        logger.info("mqtt bus reconnected to {}:{} ({} buffered)", self.host, self.port,
                                    len(self.buffer))
                    self.connected = True
                    delay = self.reconnect_s
                    await self._drain(client)
            except aiomqtt.MqttError as exc:
                if self.connected:
                    logger.warning("mqtt bus lost the broker ({}); buffering up to {} messages", exc,
                                   self.buffer_size)
            self.connected = False
            if self._stopping:
                return
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.max_reconnect_s)

    async def _drain(self, client: aiomqtt.Client) -> None:
        while not self._stopping:
            if self._unreported_drops:
                n, self._unreported_drops = self._unreported_drops, 0
                logger.warning("mqtt bus dropped {} messages while the broker was away (buffer {})", n,
                               self.buffer_size)
                self.buffer.appendleft(BusMessage(f"{self.prefix}/alerts", to_json(
                    {"kind": "bus_overflow", "dropped": n, "at": datetime.now(UTC)}), 1, False))
            if not self.buffer:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.heartbeat_s)
                except TimeoutError:
                    # idle: a dead broker is only noticed on a write, so write a heartbeat (fails → reconnect)
                    await client.publish(f"{self.prefix}/health/bus", to_json({"at": datetime.now(UTC)}), qos=0,
                                         timeout=self.publish_timeout_s)
                continue
            msg = self.buffer[0]
            await client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain,
                                 timeout=self.publish_timeout_s)
            # only now is it the broker's: on an error above it stays at the head and is re-sent
            if self.buffer and self.buffer[0] is msg:
                self.buffer.popleft()
            self.delivered += 1


async def bus_from_config(url: str | None, *, prefix: str = "rtrm", buffer_size: int = 10_000,
                          workdir: Path | None = None) -> tuple[Bus | None, LocalBroker | None, str]:
    """The engine's bus: the configured broker, else a loopback mosquitto it owns, else none (and why).

    The caller stops the bus, then the broker (`broker.stop()`), on shutdown.
    """
    resolved, broker, why = resolve_broker(url, workdir)
    if resolved is None:
        logger.warning("MQTT bus disabled: {}", why)
        return None, None, why
    logger.info("MQTT bus: {}", why)
    try:
        bus = await Bus(resolved, prefix=prefix, buffer_size=buffer_size).start()
    except Exception:
        if broker is not None:
            broker.stop()
        raise
    return bus, broker, why


@contextlib.asynccontextmanager
async def subscribe(url: str, topics: Sequence[str], *, group: str | None = None, qos: int = 1,
                    client_id: str | None = None) -> AsyncIterator[aiomqtt.Client]:
    """A connected MQTT 5 client subscribed to `topics` (as members of share `group` when given).

    Iterate `client.messages`; use `decode()` for the JSON payloads.
    """
    host, port, user, password = parse_mqtt_url(url)
    async with aiomqtt.Client(host, port, identifier=client_id, username=user, password=password,
                              protocol=aiomqtt.ProtocolVersion.V5) as client:
        for topic in topics:
            await client.subscribe(shared_topic(group, topic) if group else topic, qos=qos)
        yield client


def decode(message: aiomqtt.Message) -> dict[str, Any]:
    payload = message.payload
    raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError(f"bus message on {message.topic} is not a JSON object")
    return data
