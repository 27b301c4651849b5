"""seed_devnet on real anvils + the in-process Solana endpoint: one position of each kind read back through
web3 / solana-py and compared with the seed report; determinism of the wallet set."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from solana.rpc.async_api import AsyncClient
from solana.rpc.models import TokenAccountOpts
from solders.pubkey import Pubkey

from chains.devnet.errors import DevnetError
from chains.devnet.protocols import CHAIN_IDS, PYTH_FEED_IDS
from chains.devnet.seed import SEED_FILE, load_seed_report, make_wallets, seed_devnet, wallet_key
from chains.devnet.solana_seed import (
    PSY_AMERICAN,
    PYTH_RECEIVER,
    holder_pubkey,
    parse_option_market,
    parse_price_update_v2,
    pyth_price_address,
)
from tests.chains.devnet.test_protocols_deploy import OUT, ROOT, build_devnet, needs_artifacts


def test_wallets_are_deterministic_per_seed() -> None:
    a, b, c = make_wallets(6, 1), make_wallets(6, 1), make_wallets(6, 2)
    assert a == b
    assert {w.address for w in a}.isdisjoint({w.address for w in c})
    assert [w.fragile for w in a] == [True, False, False, True, False, False]
    assert wallet_key(1, 0) != wallet_key(1, 1) and len(wallet_key(1, 0)) == 32
    assert holder_pubkey(1, 0) == holder_pubkey(1, 0) != holder_pubkey(2, 0)
    with pytest.raises(ValueError, match="positive"):
        make_wallets(0, 1)


@needs_artifacts
async def test_seed_every_protocol_and_read_back(anvil_factory: Any, tmp_path: Path) -> None:
    async with build_devnet(anvil_factory, tmp_path, solana=True) as dn:
        t0 = time.perf_counter()
        report = await seed_devnet(dn.manifest, wallets=4, seed=11, root=ROOT, out_dir=OUT)
        print(f"seed of 4 wallets on 4 chains: {time.perf_counter() - t0:.2f} s")
        assert load_seed_report(tmp_path) == json.loads((tmp_path / SEED_FILE).read_text()) == report
        vault_count = await dn.c("ethereum")["VaultOptions"].functions.vaultCount().call()
        assert (
            await seed_devnet(dn.manifest, wallets=4, seed=11, root=ROOT, out_dir=OUT) == report
        )  # not additive
        assert await dn.c("ethereum")["VaultOptions"].functions.vaultCount().call() == vault_count
        with pytest.raises(DevnetError, match="already seeded"):
            await seed_devnet(dn.manifest, wallets=3, seed=11, root=ROOT, out_dir=OUT)
        wallets = {w["address"]: w for w in report["wallets"]}

        # VaultOptions (ethereum): the vault as the contract sees it
        vo_rep = report["vault_options"]
        assert vo_rep["count"] == 4
        vo = dn.c("ethereum")["VaultOptions"]
        for v in vo_rep["vaults"]:
            owner, _, _, series_id, collateral, short = await vo.functions.getVault(v["vault_id"]).call()
            assert (owner, series_id, collateral, short) == (
                v["owner"],
                v["series_id"],
                v["collateral"],
                v["short"],
            )
            assert v["fragile"] == wallets[owner]["fragile"]
            assert not await vo.functions.isLiquidatable(v["vault_id"]).call()  # everyone starts safe
        token = (await vo.functions.getSeries(vo_rep["vaults"][0]["series_id"]).call())[0]
        erc20 = dn.c("ethereum").at(token, "OptionToken")
        assert (
            await erc20.functions.balanceOf(vo_rep["vaults"][0]["owner"]).call()
            == vo_rep["vaults"][0]["short"]
        )

        # PortfolioMargin (arbitrum): cash, positions, margin
        pm_rep = report["portfolio_margin"]
        pm = dn.c("arbitrum")["PortfolioMargin"]
        house_positions: dict[str, int] = {}
        for a in pm_rep["accounts"]:
            assert await pm.functions.ownerOf(a["account_id"]).call() == a["owner"]
            assert await pm.functions.cashOf(a["account_id"]).call() == a["cash"]
            for sid, amount in a["positions"].items():
                assert await pm.functions.positionOf(a["account_id"], int(sid)).call() == amount
                house_positions[sid] = house_positions.get(sid, 0) - amount
            mm, _ = await pm.functions.getMarginAndMarkToMarket(a["account_id"]).call()
            assert mm >= 0
        for sid, amount in house_positions.items():  # matched trades: the house holds the mirror book
            assert await pm.functions.positionOf(pm_rep["house_account"], int(sid)).call() == amount
        assert any(a["fragile"] and any(v < 0 for v in a["positions"].values()) for a in pm_rep["accounts"])

        # OptionAMM + CoverMarket (base)
        amm = dn.c("base")["OptionAMM"]
        held: dict[tuple[int, str], int] = {}
        for t in report["option_amm"]["trades"]:
            held[(t["series_id"], t["trader"])] = held.get((t["series_id"], t["trader"]), 0) + t["amount"]
        for (sid, trader), amount in held.items():
            assert await amm.functions.positionOf(sid, trader).call() == amount
        for sid, oi in report["option_amm"]["open_interest"].items():
            assert (await amm.functions.series(int(sid)).call())[4] == oi
        for lp in report["option_amm"]["lps"]:
            assert await amm.functions.balanceOf(lp["owner"]).call() == lp["shares"] > 0
        cover = dn.c("base")["CoverMarket"]
        covers = report["cover_market"]["covers"]
        assert covers and {c["chain_id"] for c in covers} == {CHAIN_IDS["ethereum"], CHAIN_IDS["arbitrum"]}
        for c in covers:
            on_chain = await cover.functions.cover(c["cover_id"]).call()
            assert (on_chain[0], on_chain[1], on_chain[2], on_chain[3], on_chain[4]) == (
                c["holder"],
                c["account"],
                c["chain_id"],
                c["protocol"],
                c["amount"],
            )
            assert wallets[c["holder"]]["covered"]

        # Solana: Pyth accounts and tokenized-option balances through solana-py
        sol = report["solana"]
        async with AsyncClient(dn.manifest.chains["solana"].rpc_url) as client:
            for asset in ("SOL", "ETH", "BTC"):
                addr = Pubkey.from_string(sol["pyth"][asset])
                assert addr == pyth_price_address(PYTH_FEED_IDS[asset])
                info = (await client.get_account_info(addr)).value
                assert info is not None and info.owner == PYTH_RECEIVER
                parsed = parse_price_update_v2(bytes(info.data))
                assert parsed["feed_id"] == PYTH_FEED_IDS[asset] and parsed["exponent"] == -8
            sol_acc = (await client.get_account_info(Pubkey.from_string(sol["pyth"]["SOL"]))).value
            assert sol_acc is not None and parse_price_update_v2(bytes(sol_acc.data))["price"] == 150 * 10**8
            market = sol["markets"][0]
            info = (await client.get_account_info(Pubkey.from_string(market["address"]))).value
            assert info is not None and info.owner == PSY_AMERICAN
            m = parse_option_market(bytes(info.data))
            assert str(m["option_mint"]) == market["option_mint"] and m["expiration"] == market["expiration"]
            holder = sol["holders"][0]
            resp = await client.get_token_accounts_by_owner(
                Pubkey.from_string(holder["pubkey"]),
                TokenAccountOpts(mint=Pubkey.from_string(market["option_mint"])),
            )
            assert len(resp.value) == 1
            bal = await client.get_token_account_balance(resp.value[0].pubkey)
            assert int(bal.value.amount) == holder["options"][market["name"]]
            supply = await client.get_token_supply(Pubkey.from_string(market["writer_token_mint"]))
            assert int(supply.value.amount) == market["contracts_minted"]
        # entities tie an EVM address to a Solana pubkey
        ent = report["entities"]
        w0 = report["wallets"][0]
        assert ent[w0["entity"]] == {"evm": w0["address"], "solana": holder["pubkey"]}


def _structure(report: dict[str, Any]) -> dict[str, Any]:
    """The seed-driven part of a report (amounts and choices), without clock-dependent marks and premiums."""
    return {
        "wallets": report["wallets"],
        "vaults": [(v["owner"], v["series_id"], v["short"]) for v in report["vault_options"]["vaults"]],
        "pm": [(a["owner"], a["positions"]) for a in report["portfolio_margin"]["accounts"]],
        "amm": [(t["trader"], t["series_id"], t["amount"]) for t in report["option_amm"]["trades"]],
        "covers": [(c["holder"], c["chain_id"]) for c in report["cover_market"]["covers"]],
        "solana": report["solana"]["holders"],
    }


@pytest.mark.slow
@needs_artifacts
async def test_same_seed_same_book_on_fresh_devnets(anvil_factory: Any, tmp_path: Path) -> None:
    reports = []
    for i in range(2):
        async with build_devnet(anvil_factory, tmp_path / str(i), solana=True) as dn:
            reports.append(await seed_devnet(dn.manifest, wallets=5, seed=3, root=ROOT, out_dir=OUT))
    assert _structure(reports[0]) == _structure(reports[1])


def test_seed_command_line_reports_a_missing_devnet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from chains.devnet.seed import main

    assert main(["--dir", str(tmp_path), "--wallets", "2"]) == 2
    assert "no devnet manifest" in capsys.readouterr().out
