"""No key material in any artifact of a real keeper run: devnet (anvil x3, protocols deployed and seeded), live
liquidations through the lane, real SQLite, real mosquitto with a subscriber writing every payload to a file,
loguru JSON + stderr sinks in tmp, and a deliberately failing bot tick whose exception formats the signer (with the
key in a local variable). Then every file under tmp_path is scanned for the key in all its encodings.

The keeper key is generated for this test (not one of anvil's well-known dev keys, which devnet files may list) and
is passed to the runtime through its `environ` mapping only — the redactor is not told about it, so what keeps it
out of the logs is the pattern scrub and the code never formatting it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from loguru import logger

from bots.broker import find_mosquitto, start_mosquitto
from bots.bus import subscribe
from bots.engine import BotHealth, BotSpec
from bots.logging import configure_logging
from bots.runner import ChainClock, Runtime
from bots.security import scan_artifacts
from chains.devnet.driver import MarketDriver, fragile_targets
from chains.devnet.multicall import install_multicall3
from chains.devnet.seed import seed_devnet
from tests.bots.test_run_devnet import KEEPER_ENV, config, intents, run_until
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts

KEY = "0x" + bytes(range(201, 233)).hex()  # generated for this test; funded only on the throwaway devnet


@pytest.mark.faults  # ~35 s (a devnet and a live keeper): `make test-faults`
@needs_artifacts
async def test_keeper_run_leaves_no_key_in_any_artifact(anvil_factory: Any, tmp_path: Path) -> None:
    assert find_mosquitto() is not None, "mosquitto is part of the test machine (/usr/sbin/mosquitto)"
    keeper = Account.from_key(KEY).address
    env: Mapping[str, str] = {KEEPER_ENV: KEY}
    logs = tmp_path / "logs"
    logs.mkdir()
    stderr_file = (logs / "stderr.log").open("w")
    configure_logging("DEBUG", logs / "rtrm.jsonl", stream=stderr_file)
    broker = start_mosquitto(workdir=tmp_path / "mqtt")
    payloads = (tmp_path / "mqtt_payloads.bin").open("wb")
    ready = asyncio.Event()

    async def capture() -> None:
        async with subscribe(broker.url, ["#"]) as client:
            ready.set()
            async for m in client.messages:
                payloads.write(str(m.topic).encode() + b"\t" + bytes(m.payload or b"") + b"\n")  # type: ignore[arg-type]
                payloads.flush()

    listener = asyncio.create_task(capture())
    leaked_tick: list[str] = []
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with build_devnet(anvil_factory, tmp_path / "devnet") as dn:
            await install_multicall3(dn.w3["ethereum"], root=ROOT, chain="ethereum")
            report = await seed_devnet(dn.manifest, wallets=4, seed=9, root=ROOT, out_dir=OUT)
            targets = [t for t in fragile_targets(report) if t.kind == "vault"]
            eth = dn.c("ethereum")
            w3, vo, usdc = dn.w3["ethereum"], eth["VaultOptions"], eth["USDC"]
            deployer = (await w3.eth.accounts)[0]
            await w3.provider.make_request("anvil_setBalance", [keeper, hex(10**20)])  # type: ignore[arg-type]
            await usdc.functions.mint(keeper, 10_000_000 * 10**6).transact({"from": deployer})
            async with MarketDriver(dn.manifest, root=ROOT, out_dir=OUT) as drv:
                await drv.advance_time(60)
                await drv.make_liquidatable(targets)
                await drv.advance_time(4000, push=False)  # the Opyn auction price rises over the hour …
                await drv.push(dict(drv.prices))  # … and a fresh round at the same price passes the oracle guard
            rpc = dn.manifest.chains["ethereum"].rpc_url
            rt = Runtime(config(rpc, vo.address, tmp_path / "live.db", dry=False, mqtt=broker.url), environ=env,
                         clock=ChainClock())

            async def confirmed(r: Runtime) -> bool:
                return sum(i.state == "confirmed" for i in await intents(r)) >= len(targets)

            async def leaky_tick(r: Runtime) -> None:
                """A bot whose decision fails with the signer formatted into the error, the key in a local."""
                assert r.engine is not None and r.signer is not None
                signer = r.signer

                def decide(state: object, params: object) -> Any:
                    key_in_a_local = signer.account.key  # noqa: F841  (diagnose=False must keep locals out)
                    raise RuntimeError(f"cannot sign with {signer!r} / {signer} / {signer.account!r}")

                async def source(now: datetime) -> object:
                    return now

                r.engine.bots["leaky"] = BotSpec("leaky", decide, source)
                r.engine.health["leaky"] = BotHealth("leaky")
                await r.engine.tick("leaky")
                assert r.store is not None
                leaked_tick.extend(a.message for a in await r.store.alerts(50) if a.source == "bot:leaky")
                with contextlib.suppress(RuntimeError):
                    decide(None, None)
                logger.exception("and once more through the logger's own exception formatting")
                assert r.bus is not None
                await r.bus.wait_flushed(5)

            await run_until(rt, confirmed, timeout=90, settle_s=1.0, before_stop=leaky_tick)
            assert sum(i.state == "confirmed" and i.signer == keeper for i in await intents(rt)) == len(targets)
        await asyncio.sleep(0.5)  # the last MQTT payloads reach the capture
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await listener
        payloads.close()
        broker.stop()
        configure_logging("INFO", stream=io.StringIO())
        stderr_file.close()

    assert len(leaked_tick) == 1 and keeper in leaked_tick[0]  # the exception path ran, and named the address
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert "live.db" in files and "logs/rtrm.jsonl" in files and "mqtt_payloads.bin" in files
    assert (tmp_path / "mqtt_payloads.bin").stat().st_size > 0 and (logs / "rtrm.jsonl").stat().st_size > 0
    assert b"cannot sign with" in (logs / "rtrm.jsonl").read_bytes()
    assert scan_artifacts([tmp_path], [KEY]) == []
    # control: the same scan does see the key once it is written somewhere
    (tmp_path / "control.txt").write_text(KEY.upper())
    assert [f.file.name for f in scan_artifacts([tmp_path], [KEY])] == ["control.txt"]
