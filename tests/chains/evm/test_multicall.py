"""Multicall3 batched reads against a real anvil with Multicall3 installed at its canonical address."""

from __future__ import annotations

from pathlib import Path

from eth_abi import decode, encode
from eth_utils import keccak, to_checksum_address
from web3 import AsyncHTTPProvider, AsyncWeb3

from chains.devnet.multicall import install_multicall3
from chains.evm.multicall import MULTICALL3, Call, MulticallReader
from chains.evm.rpc import RawRpc
from tests.conftest import AnvilFactory

ROOT = Path(__file__).resolve().parents[3]
GET_ETH_BALANCE = keccak(text="getEthBalance(address)")[:4]


def _balance_call(addr: str) -> Call:
    return Call(MULTICALL3, GET_ETH_BALANCE + encode(["address"], [addr]))


async def test_batched_reads_are_ordered_and_failures_isolated(anvil_factory: AnvilFactory) -> None:
    # a low gas cap forces the reader to split oversized batches
    node = anvil_factory(args=("--gas-limit", "3000000"))
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    try:
        await install_multicall3(w3, root=ROOT, chain="test")
        addrs = [to_checksum_address(f"0x{i + 1:040x}") for i in range(1500)]
        for i in (0, 7, 1499):
            await w3.provider.make_request("anvil_setBalance", [addrs[i], hex(10**18 + i)])
        calls = [_balance_call(a) for a in addrs]
        calls.insert(3, Call(MULTICALL3, b"\xde\xad\xbe\xef"))  # unknown selector: this one call reverts
        reader = MulticallReader(RawRpc(w3), batch_size=1500)
        results = await reader.read(calls)
        assert len(results) == 1501
        assert results[3].ok is False
        balances = [decode(["uint256"], r.data)[0] for j, r in enumerate(results) if j != 3]
        assert balances[0] == 10**18 and balances[7] == 10**18 + 7 and balances[1499] == 10**18 + 1499
        assert sum(1 for b in balances if b) == 3
        assert reader.splits >= 1  # the 1500-call batch exceeded the gas cap and was split
        assert reader.round_trips < 100  # still far fewer round trips than calls
    finally:
        await w3.provider.disconnect()


async def test_reads_are_pinned_to_a_block(anvil_factory: AnvilFactory) -> None:
    node = anvil_factory()
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    try:
        await install_multicall3(w3, root=ROOT, chain="test")
        who = to_checksum_address("0x" + "ab" * 20)
        sender = (await w3.eth.accounts)[0]
        await w3.eth.wait_for_transaction_receipt(await w3.eth.send_transaction({"from": sender, "to": who, "value": 5}))
        block = await w3.eth.block_number
        await w3.eth.wait_for_transaction_receipt(await w3.eth.send_transaction({"from": sender, "to": who, "value": 4}))
        reader = MulticallReader(RawRpc(w3))
        then, = await reader.read([_balance_call(who)], block=block)
        now, = await reader.read([_balance_call(who)])
        assert decode(["uint256"], then.data)[0] == 5 and decode(["uint256"], now.data)[0] == 9
    finally:
        await w3.provider.disconnect()


async def test_fanned_out_reads_equal_the_sequential_ones_in_order(anvil_factory: AnvilFactory) -> None:
    """After the first batch works, the rest go out `concurrency` at a time; results keep the calls' order, and
    a batch that fails (the gas cap) still splits on its own."""
    node = anvil_factory(args=("--gas-limit", "3000000"))
    w3 = AsyncWeb3(AsyncHTTPProvider(node.url))
    try:
        await install_multicall3(w3, root=ROOT, chain="test")
        addrs = [to_checksum_address(f"0x{i + 1:040x}") for i in range(3000)]
        for i in range(0, 3000, 97):
            await w3.provider.make_request("anvil_setBalance", [addrs[i], hex(10**18 + i)])
        calls = [_balance_call(a) for a in addrs]
        calls.insert(2500, Call(MULTICALL3, b"\xde\xad\xbe\xef"))
        seq = await MulticallReader(RawRpc(w3), batch_size=150, concurrency=1).read(calls, "latest")
        fan = MulticallReader(RawRpc(w3), batch_size=150, max_batch=150, concurrency=4)
        got = await fan.read(calls, "latest")
        assert got == seq and len(got) == 3001 and got[2500].ok is False
        assert [decode(["uint256"], r.data)[0] for r in got[:98:97]] == [10**18, 10**18 + 97]
        big = MulticallReader(RawRpc(w3), batch_size=150, max_batch=5000, concurrency=4)
        assert await big.read(calls, "latest") == seq  # fan-out batches grow past the gas cap: split alone
    finally:
        await w3.provider.disconnect()
