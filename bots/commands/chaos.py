"""`rtrm chaos --config rtrm.toml --faults faults.toml [--seed N] [--dry-run] [--duration S]`: run the keeper
exactly like `rtrm run`, but with every EVM RPC URL behind a loopback fault proxy driven by a fault schedule.

Why a user-facing mode: operators should see what their keeper does when an RPC provider fails *before* it
happens in production — which alerts fire, whether other chains keep acting, how long recovery takes. The config
file is not touched: its URLs are rewritten in memory (and hot reload is off, so a reload cannot swap them back).
Exit 0 after a clean stop, 2 with one `rtrm: error:` line for a bad config or schedule (naming the key).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import time
from collections import Counter
from typing import Any

from loguru import logger

from bots.commands.common import CommandError, run_command
from bots.config import Config, ConfigError, load_with_manifest
from bots.runner import RunnerError, Runtime
from bots.store import Store
from chains.devnet.manifest import ManifestError
from chains.evm.signer import SignerError
from chains.faults.proxy import FaultProxy, ScheduleDriver
from chains.faults.schedule import FaultSpec, Schedule, ScheduleError, Transition, load_schedule


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    p = subparsers.add_parser("chaos", help="run the keeper with its EVM RPCs behind a fault proxy (fault schedule)")
    p.add_argument("--config", default="rtrm.toml", help="config file (default rtrm.toml)")
    p.add_argument("--faults", required=True, help="fault schedule (TOML, [[fault]] tables; see README)")
    p.add_argument("--seed", type=int, default=0, help="seed for probabilistic faults (default 0)")
    p.add_argument("--dry-run", action="store_true", help="decide and record everything, send nothing")
    p.add_argument("--no-bus", action="store_true", help="do not publish on MQTT (no broker is started)")
    p.add_argument("--duration", type=float, default=None,
                   help="stop after this many seconds (default: run until Ctrl-C)")
    p.set_defaults(handler=cmd_chaos)


def evm_chains(cfg: Config) -> list[str]:
    return [c for c, cc in cfg.chains.items() if cc.kind == "evm"]


async def start_proxies(cfg: Config, seed: int) -> dict[str, list[FaultProxy]]:
    """One proxy per RPC URL of every EVM chain (a chain's faults hit all its URLs); the first also carries
    the chain's WebSocket URL when one is configured."""
    out: dict[str, list[FaultProxy]] = {}
    try:
        for i, chain in enumerate(evm_chains(cfg)):
            cc = cfg.chains[chain]
            out[chain] = []
            for j, url in enumerate(cc.rpc_urls):
                ws = cc.ws_url if j == 0 else None
                proxy = FaultProxy(url, ws_upstream=ws, seed=seed * 1000 + i * 10 + j, name=f"{chain}#{j}")
                out[chain].append(await proxy.start())
    except BaseException:
        await stop_proxies(out)
        raise
    return out


async def stop_proxies(proxies: dict[str, list[FaultProxy]]) -> None:
    for group in proxies.values():
        for proxy in group:
            with contextlib.suppress(Exception):
                await proxy.stop()


def proxied_config(cfg: Config, proxies: dict[str, list[FaultProxy]]) -> Config:
    """The config with each EVM chain's rpc_urls / ws_url pointing at its proxies (in memory only)."""
    chains = dict(cfg.chains)
    for chain, group in proxies.items():
        cc = chains[chain]
        update: dict[str, Any] = {"rpc_urls": [p.url for p in group]}
        if cc.ws_url is not None:
            update["ws_url"] = group[0].ws_url
        chains[chain] = cc.model_copy(update=update)
    return cfg.model_copy(update={"chains": chains})


def describe(tr: Transition, elapsed: float) -> str:
    spec = tr.fault.spec
    extra = []
    if spec.probability < 1:
        extra.append(f"p={spec.probability:g}")
    if spec.kind.value == "http_status":
        extra.append(f"status={spec.status}")
    if spec.kind.value == "delay":
        extra.append(f"delay_ms={spec.delay_ms}")
    if spec.methods:
        extra.append("methods=" + ",".join(sorted(spec.methods)))
    what = f"{tr.fault.chain} {spec.kind.value}" + (f" ({' '.join(extra)})" if extra else "")
    return f"chaos: +{elapsed:6.1f}s {'start' if tr.starts else 'end  '} {what}"


class MultiProxy:
    """The proxies of one chain as one (the schedule driver applies a chain's faults to all its URLs)."""

    def __init__(self, group: list[FaultProxy]) -> None:
        self.group = group

    async def apply(self, specs: list[FaultSpec]) -> None:
        for proxy in self.group:
            await proxy.apply(specs)


async def summary(cfg: Config, proxies: dict[str, list[FaultProxy]], started: float) -> list[str]:
    lines = [f"chaos summary after {time.monotonic() - started:.1f}s"]
    for chain, group in proxies.items():
        injected: Counter[str] = Counter()
        for p in group:
            injected.update(p.injected)
        kinds = ", ".join(f"{k}={v}" for k, v in sorted(injected.items())) or "none"
        lines.append(f"  {chain}: {sum(p.requests for p in group)} requests, faults injected: {kinds}")
    store = Store(cfg.storage.url)
    try:
        await store.open()
        actions = await store.actions(limit=100_000)
        alerts = await store.alerts(limit=100_000)
    except Exception as exc:  # the summary must not hide how the run ended
        lines.append(f"  store unreadable: {type(exc).__name__}")
        return lines
    finally:
        await store.close()
    states = Counter(f"{a.bot}:{a.state}" for a in actions)
    lines.append("  actions: " + (", ".join(f"{k}={v}" for k, v in sorted(states.items())) or "none"))
    sources = Counter(a.source for a in alerts)
    lines.append("  alerts: " + (", ".join(f"{k}={v}" for k, v in sorted(sources.items())) or "none"))
    return lines


async def _chaos(cfg: Config, schedule: Schedule, seed: int, use_bus: bool, duration: float | None) -> None:
    proxies = await start_proxies(cfg, seed)
    started = time.monotonic()
    try:
        for chain, group in proxies.items():
            logger.info("chaos: {} RPC behind {}", chain, ", ".join(p.url for p in group))
        rt = Runtime(proxied_config(cfg, proxies), config_path=None, use_bus=use_bus)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        if duration is not None:
            loop.call_later(duration, stop.set)

        def on_transition(tr: Transition) -> None:
            line = describe(tr, time.monotonic() - started)
            print(line, flush=True)
            logger.info(line)

        driver = ScheduleDriver(schedule, {c: MultiProxy(g) for c, g in proxies.items()},
                                on_transition=on_transition)
        faults = asyncio.create_task(driver.run(), name="chaos-schedule")
        try:
            logger.info("keeper running under faults (dry_run={}); Ctrl-C to stop", cfg.dry_run)
            await rt.run_until(stop)
        finally:
            faults.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await faults
        for line in await summary(cfg, proxies, started):
            print(line, flush=True)
    finally:
        await stop_proxies(proxies)


def cmd_chaos(args: argparse.Namespace) -> int:
    def run() -> int:
        try:
            cfg = load_with_manifest(args.config)
        except (ConfigError, ManifestError) as exc:
            raise CommandError(str(exc)) from None
        chains = evm_chains(cfg)
        try:
            schedule = load_schedule(args.faults, chains)
        except ScheduleError as exc:
            raise CommandError(str(exc)) from None
        if args.duration is not None and args.duration <= 0:
            raise CommandError(f"--duration: must be > 0 seconds, got {args.duration}")
        if args.dry_run:
            cfg = cfg.model_copy(update={"dry_run": True})
        try:
            asyncio.run(_chaos(cfg, schedule, args.seed, not args.no_bus, args.duration))
        except (RunnerError, SignerError) as exc:
            raise CommandError(str(exc)) from None
        return 0

    return run_command(run)

