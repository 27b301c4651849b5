"""The liquidator's incremental reads on a real anvil VaultOptions stack: a tick re-reads only the vaults with
events since the last read plus those the mirror flags at the new price; a reorg (anvil revert) or the periodic
safety net forces a full read; carried vaults are never targets without the contract's own confirmation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType

import pytest

from bots.sources.evm import Head, head
from bots.sources.incremental import AccountCache, carry
from bots.sources.vault import VaultSource
from chains.evm.endpoints import EndpointPool
from chains.model import AccountState
from chains.protocols.vault_options import VaultOptionsAdapter
from tests.chains.protocols.conftest import vault_net  # noqa: F401  (fixture)
from tests.chains.protocols.devnet import E8, OPT, USDC, VaultDevnet, rpc, send


@pytest.fixture
async def pool(vault_net: VaultDevnet) -> AsyncIterator[EndpointPool]:  # noqa: F811
    p = EndpointPool([vault_net.url])
    try:
        yield p
    finally:
        await p.close()


def by_id(read: object) -> dict[int, object]:
    return {c.vault_id: c for c in read.candidates}  # type: ignore[attr-defined]


async def test_a_tick_rereads_only_touched_and_flagged_vaults(vault_net: VaultDevnet, pool: EndpointPool) -> None:  # noqa: F811
    net = vault_net
    safe_a = await net.open_vault(net.writer, 5_000 * USDC, net.put_series, 1 * OPT)
    safe_b = await net.open_vault(net.writer, 5_000 * USDC, net.put_series, 1 * OPT)
    adapter = VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block)
    need = int(await net.vo.functions.requirement(safe_a).call())
    fragile = await net.open_vault(net.writer, need + need // 50, net.put_series, 1 * OPT)  # 2 % over
    src = VaultSource(adapter, pool)

    first = await src.read(await head(pool))
    assert (src.cache.full_reads, src.last_reread) == (1, 3)
    assert set(by_id(first)) == {safe_a, safe_b, fragile}

    await net.push_price(3000 * E8)  # a new round, same price: nothing to re-read
    quiet = await src.read(await head(pool))
    assert (src.cache.full_reads, src.cache.partial_reads, src.last_reread) == (1, 1, 0)
    assert quiet.states == ()  # nothing new for the risk book
    assert not any(c.liquidatable for c in quiet.candidates) and len(quiet.candidates) == 3

    await send(net.w3, net.vo.functions.deposit(safe_b, 1_000 * USDC), net.writer)
    touched = await src.read(await head(pool))
    assert src.last_reread == 1 and [s.account_id for s in touched.states] == [str(safe_b)]
    assert by_id(touched)[safe_b].collateral == pytest.approx(6_000.0)  # type: ignore[attr-defined]

    await net.push_price(2000 * E8)  # the fragile short put is now under water: the mirror flags it
    crash = await src.read(await head(pool))
    flagged = {s.account_id for s in crash.states}
    assert str(fragile) in flagged and src.last_reread == len(flagged) <= 3
    assert by_id(crash)[fragile].liquidatable  # type: ignore[attr-defined]  # the contract agreed at the block
    assert int(await net.vo.functions.requirement(fragile).call()) > need + need // 50


async def test_a_reorg_forces_a_full_read_that_forgets_the_replaced_blocks(vault_net: VaultDevnet,  # noqa: F811
                                                                          pool: EndpointPool) -> None:
    net = vault_net
    vid = await net.open_vault(net.writer, 5_000 * USDC, net.put_series, 1 * OPT)
    src = VaultSource(VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block), pool)
    await src.read(await head(pool))
    snap = await rpc(net.w3, "evm_snapshot")
    await send(net.w3, net.vo.functions.deposit(vid, 2_000 * USDC), net.writer)
    grown = await src.read(await head(pool))
    assert by_id(grown)[vid].collateral == pytest.approx(7_000.0)  # type: ignore[attr-defined]
    assert src.cache.full_reads == 1
    await rpc(net.w3, "evm_revert", [snap])
    await rpc(net.w3, "evm_mine")
    await rpc(net.w3, "evm_mine")  # the new branch is as long as the old one: only the hash tells them apart
    back = await src.read(await head(pool))
    assert src.cache.full_reads == 2  # the last read block is gone: everything is read again
    assert by_id(back)[vid].collateral == pytest.approx(5_000.0)  # type: ignore[attr-defined]


async def test_the_safety_net_reads_everything_when_due(vault_net: VaultDevnet, pool: EndpointPool) -> None:  # noqa: F811
    net = vault_net
    await net.open_vault(net.writer, 5_000 * USDC, net.put_series, 1 * OPT)
    now = [100.0]
    src = VaultSource(VaultOptionsAdapter("ethereum", pool, net.vo.address, net.deploy_block), pool,
                      cache=AccountCache(full_every_s=30.0, clock=lambda: now[0]))
    await src.read(await head(pool))
    now[0] += 29.0
    await src.read(await head(pool))
    assert (src.cache.full_reads, src.last_reread) == (1, 0)
    now[0] += 1.0
    await src.read(await head(pool))
    assert (src.cache.full_reads, src.last_reread) == (2, 1)


def test_carry_moves_the_block_and_drops_only_the_block_views() -> None:
    st = AccountState("arbitrum", "portfolio_margin", "7", "0xabc", 10, MappingProxyType({"USD": Decimal(5)}), (),
                      MappingProxyType({"mm": Decimal(1), "mtm": Decimal(2), "auction_active": Decimal(0)}), "0x10",
                      datetime(2026, 1, 1, tzinfo=UTC))
    moved = carry(st, Head(12, "0x12", 1_700_000_000), ("mm", "mtm"))
    assert (moved.block, moved.block_hash) == (12, "0x12")
    assert dict(moved.params) == {"auction_active": Decimal(0)}
    assert (moved.collateral, moved.positions, moved.read_at, moved.owner) == (st.collateral, st.positions,
                                                                             st.read_at, st.owner)
    assert carry(st, Head(12, "0x12", 0), ()).params is st.params  # nothing to drop: no copy
