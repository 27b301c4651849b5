"""rtrm.toml validation: the shipped example loads, errors name file + field + expectation, keys are refused."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bots.config import (
    ConfigError,
    apply_manifest,
    diff_configs,
    load_config,
    parse_config,
    reload_config,
    resolved_view,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "rtrm.example.toml"

BASE = """
[chains.arbitrum]
rpc_urls = ["http://127.0.0.1:8546"]
chain_id = 42161
[signers.keeper]
env = "RTRM_KEEPER_KEY"
[protocols.portfolio_margin]
kind = "portfolio_margin"
chain = "arbitrum"
addresses = { PortfolioMargin = "0x0000000000000000000000000000000000000001" }
[bots.liquidator]
signer = "keeper"
[bots.liquidator.protocols.portfolio_margin]
min_profit_usd = "10"
cooldown_s = 15
"""


def test_example_file_loads_with_all_sections() -> None:
    cfg = load_config(EXAMPLE)
    assert set(cfg.bots.configured()) == {"liquidator", "hedger", "claimer", "disputer", "settlement"}
    assert cfg.bots["liquidator"].protocols["portfolio_margin"].min_profit_usd == Decimal("10")
    assert cfg.guards.max_oracle_age_s["pyth"] == 60
    assert cfg.chains["arbitrum"].chain_id == 42161
    assert cfg.dry_run is True


@pytest.mark.parametrize(
    ("patch", "field", "expected"),
    [
        ('min_profit_usd = "10"', "bots.liquidator.protocols.portfolio_margin.min_profit_usd",
         "greater than or equal to 0"),
        ("cooldown_s = 15", "bots.liquidator.protocols.portfolio_margin.cooldwn_s", "unknown field"),
        ('chain = "arbitrum"', "protocols.portfolio_margin.chain", "unknown chain 'optimism'"),
        ("chain_id = 42161", "chains.arbitrum.chain_id", "greater than 0"),
        ('rpc_urls = ["http://127.0.0.1:8546"]', "chains.arbitrum.rpc_urls", "must start with http"),
        ('signer = "keeper"', "bots.liquidator.signer", "unknown signer 'nobody'"),
        ('env = "RTRM_KEEPER_KEY"', "signers.keeper.env", "environment variable name"),
    ],
)
def test_errors_name_file_field_and_expectation(patch: str, field: str, expected: str) -> None:
    bad = {
        'min_profit_usd = "10"': 'min_profit_usd = "-1"',
        "cooldown_s = 15": "cooldwn_s = 15",
        'chain = "arbitrum"': 'chain = "optimism"',
        "chain_id = 42161": "chain_id = 0",
        'rpc_urls = ["http://127.0.0.1:8546"]': 'rpc_urls = ["ftp://x"]',
        'signer = "keeper"': 'signer = "nobody"',
        'env = "RTRM_KEEPER_KEY"': 'env = "not a var"',
    }[patch]
    with pytest.raises(ConfigError) as info:
        parse_config(BASE.replace(patch, bad, 1), "conf/rtrm.toml")
    msg = str(info.value)
    assert msg.startswith(f"conf/rtrm.toml: {field}: "), msg
    assert expected in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "line",
    [
        'env = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"',
        'private_key = "abc"',
        'env = "4NMwxzmYj2uvHuq8xoqhY8RXg63KSVJM1DXkpbmkUY7YQWuoyQgFnnzn6yo3CMnqZasnNPNuAT2TLwQsCaKkUddp"',
    ],
)
def test_literal_key_is_rejected_without_echoing_it(line: str) -> None:
    text = BASE.replace('env = "RTRM_KEEPER_KEY"', line)
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    msg = str(info.value)
    assert "literal secret" in msg and msg.startswith("rtrm.toml: signers.keeper.")
    secret = line.split('"')[1]
    assert secret not in msg


def test_signer_needs_exactly_one_source() -> None:
    with pytest.raises(ConfigError, match=r"signers.keeper: .*exactly one of env"):
        parse_config(BASE.replace('env = "RTRM_KEEPER_KEY"', 'env = "A"\nkeystore = "k.json"\npassword_env = "P"'))
    with pytest.raises(ConfigError, match="needs password_env"):
        parse_config(BASE.replace('env = "RTRM_KEEPER_KEY"', 'keystore = "k.json"'))


def test_syntax_error_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^x.toml: <syntax>: valid TOML"):
        parse_config("[chains\n", "x.toml")
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_manifest_hook_fills_addresses_and_explicit_wins() -> None:
    text = BASE.replace(
        'addresses = { PortfolioMargin = "0x0000000000000000000000000000000000000001" }',
        'from_manifest = true\naddresses = { ETH_USD = "0x00000000000000000000000000000000000000ee" }')
    cfg = parse_config(text)
    filled = apply_manifest(cfg, {"arbitrum": {"PortfolioMargin": "0xPM", "ETH_USD": "0xfeed"}})
    assert filled.protocols["portfolio_margin"].addresses == {
        "PortfolioMargin": "0xPM", "ETH_USD": "0x00000000000000000000000000000000000000ee"}
    with pytest.raises(ConfigError, match="no contracts for chain 'arbitrum'"):
        apply_manifest(cfg, {"base": {"X": "0x1"}})


def test_protocol_without_addresses_or_manifest_is_an_error() -> None:
    text = BASE.replace('addresses = { PortfolioMargin = "0x0000000000000000000000000000000000000001" }', "")
    with pytest.raises(ConfigError, match="protocols.portfolio_margin.addresses: needs addresses"):
        parse_config(text)


def test_reload_diff_applies_strategy_params_only(tmp_path: Path) -> None:
    path = tmp_path / "rtrm.toml"
    path.write_text(BASE)
    current = load_config(path)
    path.write_text(BASE.replace('min_profit_usd = "10"', 'min_profit_usd = "12.5"')
                    .replace("chain_id = 42161", "chain_id = 421614"))
    new, diff = reload_config(path, current)
    assert [(c.path, c.old, c.new) for c in diff.changes] == [
        ("bots.liquidator.protocols.portfolio_margin.min_profit_usd", "10", "12.5")]
    assert diff.restart_needed == ("chains.arbitrum.chain_id",)
    assert new.bots["liquidator"].protocols["portfolio_margin"].min_profit_usd == Decimal("12.5")
    assert new.chains["arbitrum"].chain_id == 42161  # not applied live
    assert diff_configs(new, new).empty


def test_resolved_view_masks_secrets() -> None:
    text = BASE + '\n[storage]\nurl = "postgresql://bob:hunter2@db/rtrm"\n[mqtt]\nurl = "mqtt://u:pw123@h:1883"\n'
    view = resolved_view(parse_config(text))
    flat = repr(view)
    assert "hunter2" not in flat and "pw123" not in flat
    assert view["signers"]["keeper"]["env"].startswith("$RTRM_KEEPER_KEY")


def test_each_bot_has_its_own_parameter_set() -> None:
    with pytest.raises(ConfigError, match=r"bots.liquidator.protocols.portfolio_margin.risk_aversion: unknown field"):
        parse_config(BASE.replace("cooldown_s = 15", "risk_aversion = 0.1"))
    with pytest.raises(ConfigError, match=r"rtrm.toml: bots.liquidatr: unknown field"):
        parse_config(BASE + "\n[bots.liquidatr]\ninterval_s = 1\n")
    cfg = parse_config(BASE)
    assert cfg.bots.get("hedger") is None and list(cfg.bots.configured()) == ["liquidator"]
    with pytest.raises(KeyError, match=r"no \[bots.hedger\] section"):
        cfg.bots["hedger"]
