"""`rtrm.toml`: the keeper's configuration, read with tomllib and validated by pydantic models.

Why strict models: a typo in a strategy threshold (``min_proft_usd``) silently falling back to a default is how
a keeper liquidates at a loss. Unknown keys are errors, and every error names the file, the field path and what
was expected, in one line. Keys never live in the file: signers name an environment variable or a keystore.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bots.db import redacted

BOT_NAMES = ("liquidator", "hedger", "claimer", "disputer", "settlement")
ProtocolKind = Literal[
    "vault_options", "portfolio_margin", "option_amm", "cover_market", "uniswap_v3", "psy_options", "pyth"
]
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A 32-byte hex secret (EVM key) or a base58 64-byte keypair (Solana) or a JSON byte array keypair.
_KEY_LIKE = (
    re.compile(r"^(0x)?[0-9a-fA-F]{64}$"),
    re.compile(r"^[1-9A-HJ-NP-Za-km-z]{80,90}$"),
    re.compile(r"^\s*\[\s*\d+(\s*,\s*\d+){63}\s*\]\s*$"),
)
_SECRET_KEYS = {"key", "private_key", "privatekey", "secret", "secret_key", "mnemonic", "seed", "password"}


class ConfigError(ValueError):
    """The configuration cannot be used; ``str()`` is one line: file, field path, what is expected."""

    def __init__(self, file: str, field: str, expected: str) -> None:
        file, field, expected = _one_line(file), _one_line(field), _one_line(expected)
        self.file, self.field, self.expected = file, field, expected
        super().__init__(f"{file}: {field or '<root>'}: {expected}")


def _one_line(text: str) -> str:
    """Control characters (a newline in a TOML key, an escape sequence) shown escaped: one line, no terminal tricks."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChainConfig(_Model):
    kind: Literal["evm", "solana"] = "evm"
    rpc_urls: list[str] = Field(min_length=1)
    ws_url: str | None = None
    chain_id: int | None = Field(default=None, gt=0)
    block_time_s: float = Field(default=2.0, gt=0)
    confirmations: int = Field(default=1, ge=0, le=256)
    # actions simulated side by side on this chain's lane (sends stay serial, one nonce at a time): a
    # liquidation wave or an expiry with hundreds of settlements is not paced by one eth_call round trip each
    lane_workers: int = Field(default=4, ge=1, le=32)

    @field_validator("rpc_urls")
    @classmethod
    def _http(cls, v: list[str]) -> list[str]:
        for url in v:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"rpc url {url!r} must start with http:// or https://")
        return v

    @field_validator("ws_url")
    @classmethod
    def _ws(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("ws://", "wss://")):
            raise ValueError(f"ws url {v!r} must start with ws:// or wss://")
        return v

    @model_validator(mode="after")
    def _evm_needs_id(self) -> ChainConfig:
        if self.kind == "evm" and self.chain_id is None:
            raise ValueError("an evm chain needs chain_id (e.g. 42161 for arbitrum)")
        return self


class SignerConfig(_Model):
    """Where a key comes from: an environment variable *name*, or a keystore file plus a password variable."""

    env: str | None = None
    keystore: Path | None = None
    password_env: str | None = None

    @field_validator("env", "password_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and not _ENV_NAME.match(v):
            raise ValueError(f"must be an environment variable name like RTRM_KEEPER_KEY, got {v[:6]!r}…")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> SignerConfig:
        if (self.env is None) == (self.keystore is None):
            raise ValueError("set exactly one of env (variable name) or keystore (path)")
        if self.keystore is not None and self.password_env is None:
            raise ValueError("a keystore needs password_env (the variable holding its password)")
        return self


class EntityConfig(_Model):
    """A book owner (the keeper, a fund, an insured account): its wallet addresses per chain."""

    addresses: dict[str, list[str]] = Field(min_length=1)
    covered: bool = False  # the claimer files cover claims for its liquidation losses
    keeper: bool = False  # the keeper's own entity: inherited positions join it, the hedger targets it


class ProtocolConfig(_Model):
    kind: ProtocolKind
    chain: str
    addresses: dict[str, str] = Field(default_factory=dict)
    from_manifest: bool = False


class StrategyParams(_Model):
    """Parameters every bot's per-protocol section accepts."""

    enabled: bool = True
    cooldown_s: float = Field(default=30.0, ge=0)  # per target, between two actions
    max_gas_gwei: Decimal | None = Field(default=None, gt=0)


class LiquidatorParams(StrategyParams):
    min_profit_usd: Decimal = Field(default=Decimal(0), ge=0)
    max_fraction: float = Field(default=1.0, gt=0, le=1)  # of an auctioned account per bid


class HedgerParams(StrategyParams):
    risk_aversion: float = Field(default=0.001, gt=0)
    band: Literal["whalley_wilmott", "zakamouline"] = "whalley_wilmott"
    policy: Literal["to_band_edge", "to_zero"] = "to_band_edge"
    min_trade_usd: Decimal = Field(default=Decimal(0), ge=0)
    max_trade_usd: Decimal | None = Field(default=None, gt=0)
    max_slippage_bps: int = Field(default=50, ge=0, le=10_000)
    venues: list[str] = Field(default_factory=list)  # protocol names of hedge venues; empty = any quoted


class ClaimerParams(StrategyParams):
    claim_margin_s: float = Field(default=3600.0, ge=0)  # closer than this to cover expiry: file urgently


class DisputerParams(StrategyParams):
    dispute_margin_s: float = Field(default=60.0, ge=0)  # closer than this to liveness end: dispute urgently


class SettlementParams(StrategyParams):
    min_profit_usd: Decimal = Field(default=Decimal(0), ge=0)  # smallest payoff worth a redeem
    batch_size: int = Field(default=40, ge=1, le=200)  # settlements per Multicall3 transaction (1 = no batching)


P = TypeVar("P", bound=StrategyParams)


class BotConfig(_Model, Generic[P]):
    enabled: bool = True
    signer: str | None = None
    interval_s: float = Field(default=1.0, gt=0)
    event_ticks: bool | None = None  # tick on chain events too (None: the global `event_ticks`)
    protocols: dict[str, P] = Field(default_factory=dict)


class BotsConfig(_Model):
    """One optional section per bot, each with its own parameter model (a typo is an unknown field)."""

    liquidator: BotConfig[LiquidatorParams] | None = None
    hedger: BotConfig[HedgerParams] | None = None
    claimer: BotConfig[ClaimerParams] | None = None
    disputer: BotConfig[DisputerParams] | None = None
    settlement: BotConfig[SettlementParams] | None = None

    def get(self, name: str) -> BotConfig[Any] | None:
        return getattr(self, name) if name in BOT_NAMES else None

    def __getitem__(self, name: str) -> BotConfig[Any]:
        found = self.get(name)
        if found is None:
            raise KeyError(f"no [bots.{name}] section")
        return found

    def configured(self) -> dict[str, BotConfig[Any]]:
        return {n: b for n in BOT_NAMES if (b := getattr(self, n)) is not None}


OracleSourceName = Literal["chainlink", "pyth", "volfeed", "amm"]


def _default_ages() -> dict[OracleSourceName, float]:
    return {"chainlink": 3600.0, "pyth": 60.0, "volfeed": 3600.0, "amm": 600.0}


class GuardsConfig(_Model):
    max_oracle_age_s: dict[OracleSourceName, float] = Field(default_factory=_default_ages)
    pyth_max_conf_ratio: Decimal = Field(default=Decimal("0.02"), gt=0, lt=1)
    max_price_jump: Decimal = Field(default=Decimal("0.5"), gt=0)  # |p/p_prev − 1| above this is absurd
    sequencer_grace_s: float = Field(default=3600.0, ge=0)
    gas_budget_native_per_hour: dict[str, Decimal] = Field(default_factory=dict)  # chain → ETH/SOL per hour
    # Hard caps the sending lane enforces on worst-case cost (gas limit × max fee + value), chain → native amount:
    # one transaction, and all transactions sent in a rolling hour (bumps included). Unset: no lane cap.
    max_fee_per_action_native: dict[str, Annotated[Decimal, Field(gt=0)]] = Field(default_factory=dict)
    max_spend_per_hour_native: dict[str, Annotated[Decimal, Field(gt=0)]] = Field(default_factory=dict)
    max_notional_usd: Decimal | None = Field(default=None, gt=0)
    kill_switch: bool = False
    kill_switch_file: Path | None = None


class StorageConfig(_Model):
    url: str = "rtrm.db"


class MqttConfig(_Model):
    url: str | None = None  # none: the engine starts a loopback broker itself
    topic_prefix: str = "rtrm"
    buffer_size: int = Field(default=10_000, ge=1)


class DevnetConfig(_Model):
    manifest: Path | None = None  # devnet directory or manifest.json; fills `from_manifest` protocols


class Config(_Model):
    chains: dict[str, ChainConfig] = Field(default_factory=dict)
    signers: dict[str, SignerConfig] = Field(default_factory=dict)
    entities: dict[str, EntityConfig] = Field(default_factory=dict)
    protocols: dict[str, ProtocolConfig] = Field(default_factory=dict)
    bots: BotsConfig = Field(default_factory=BotsConfig)
    guards: GuardsConfig = Field(default_factory=GuardsConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    devnet: DevnetConfig = Field(default_factory=DevnetConfig)
    dry_run: bool = False
    event_ticks: bool = True  # oracle / position / reorg events on a bot's chains tick it at once


# ----------------------------------------------------------------------------------------------- loading
def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _expected(err: Mapping[str, Any]) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown field (check the spelling; see rtrm.example.toml)"
    if err["type"] == "missing":
        return "required field is missing"
    given = err.get("input")
    shown = "" if isinstance(given, dict | list) or given is None else f" (got {given!r})"
    return f"{msg}{shown}"


def _reject_literal_keys(file: str, raw: Mapping[str, Any]) -> None:
    """A key pasted into the file is refused before anything else looks at it (and is never echoed)."""
    signers = raw.get("signers", {})
    if not isinstance(signers, Mapping):
        return
    for name, body in signers.items():
        if not isinstance(body, Mapping):
            continue
        for field, value in body.items():
            if field.lower() in _SECRET_KEYS or (
                isinstance(value, str) and any(p.match(value) for p in _KEY_LIKE)
            ):
                raise ConfigError(
                    file, f"signers.{name}.{field}",
                    "looks like a literal secret; never put keys in the config — set `env = \"VAR_NAME\"` "
                    "(the variable holds the key) or `keystore` + `password_env`",
                )


def _cross_check(file: str, cfg: Config) -> None:
    for pname, proto in cfg.protocols.items():
        if proto.chain not in cfg.chains:
            raise ConfigError(file, f"protocols.{pname}.chain",
                              f"unknown chain {proto.chain!r}; expected one of {sorted(cfg.chains)}")
        if not proto.addresses and not proto.from_manifest:
            raise ConfigError(file, f"protocols.{pname}.addresses",
                              "needs addresses, or from_manifest = true to read them from the devnet manifest")
    for name, ent in cfg.entities.items():
        for chain in ent.addresses:
            if chain not in cfg.chains:
                raise ConfigError(file, f"entities.{name}.addresses.{chain}",
                                  f"unknown chain; expected one of {sorted(cfg.chains)}")
    for budget in ("gas_budget_native_per_hour", "max_fee_per_action_native", "max_spend_per_hour_native"):
        for chain in getattr(cfg.guards, budget):
            if chain not in cfg.chains:
                raise ConfigError(file, f"guards.{budget}.{chain}", f"unknown chain; expected one of {sorted(cfg.chains)}")
    for bot, bcfg in cfg.bots.configured().items():
        if bcfg.signer is not None and bcfg.signer not in cfg.signers:
            raise ConfigError(file, f"bots.{bot}.signer",
                              f"unknown signer {bcfg.signer!r}; expected one of {sorted(cfg.signers)}")
        for proto_name in bcfg.protocols:
            if proto_name not in cfg.protocols:
                raise ConfigError(file, f"bots.{bot}.protocols.{proto_name}",
                                  f"unknown protocol; expected one of {sorted(cfg.protocols)}")


def parse_config(text: str, file: str = "rtrm.toml") -> Config:
    """Validate TOML text into a :class:`Config`; raises :class:`ConfigError` naming the field."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "<syntax>", f"valid TOML ({exc})") from None
    _reject_literal_keys(file, raw)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" [+{exc.error_count() - 1} more]" if exc.error_count() > 1 else ""
        raise ConfigError(file, _loc(first["loc"]), _expected(first) + more) from None
    _cross_check(file, cfg)
    return cfg


def load_config(path: str | Path) -> Config:
    """Read and validate `path`; a missing or unreadable file is a :class:`ConfigError` too."""
    p = Path(path)
    try:
        text = p.read_text()
    except FileNotFoundError:
        raise ConfigError(str(p), "<file>", "file not found (copy rtrm.example.toml to start)") from None
    except OSError as exc:
        raise ConfigError(str(p), "<file>", f"readable file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(str(p), "<file>", f"UTF-8 text (byte {exc.start} is not)") from None
    return parse_config(text, str(p))


# ----------------------------------------------------------------------------------------------- manifest
def apply_manifest(cfg: Config, chain_contracts: Mapping[str, Mapping[str, str]], file: str = "manifest") -> Config:
    """Fill `from_manifest` protocols with their chain's contract addresses (explicit addresses win).

    `chain_contracts` is chain name → contract name → address, i.e. what the devnet manifest holds.
    """
    protocols = dict(cfg.protocols)
    for name, proto in cfg.protocols.items():
        if not proto.from_manifest:
            continue
        found = chain_contracts.get(proto.chain)
        if not found:
            raise ConfigError(file, f"chains.{proto.chain}",
                              f"no contracts for chain {proto.chain!r} needed by protocols.{name}")
        protocols[name] = proto.model_copy(update={"addresses": {**found, **proto.addresses}})
    return cfg.model_copy(update={"protocols": protocols})


def load_with_manifest(path: str | Path) -> Config:
    """`load_config` plus the devnet manifest hook when `[devnet] manifest` is set."""
    cfg = load_config(path)
    if cfg.devnet.manifest is None:
        return cfg
    from chains.devnet.manifest import load_manifest

    manifest = load_manifest(cfg.devnet.manifest)
    contracts = {name: {c: e.address for c, e in ch.contracts.items()} for name, ch in manifest.chains.items()}
    return apply_manifest(cfg, contracts, str(cfg.devnet.manifest))


# ----------------------------------------------------------------------------------------------- hot reload
@dataclass(frozen=True, slots=True)
class ParamChange:
    path: str  # e.g. bots.liquidator.protocols.portfolio_margin.min_profit_usd
    old: Any
    new: Any


@dataclass(frozen=True, slots=True)
class ReloadDiff:
    """Strategy-parameter changes the engine may apply live, and other changes that need a restart."""

    changes: tuple[ParamChange, ...]
    restart_needed: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.changes and not self.restart_needed


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def diff_configs(old: Config, new: Config) -> ReloadDiff:
    """What changed between two configs: `bots.*` (strategy params) live, anything else needs a restart."""
    a: dict[str, Any] = {}
    b: dict[str, Any] = {}
    _flatten("", old.model_dump(mode="json"), a)
    _flatten("", new.model_dump(mode="json"), b)
    changes: list[ParamChange] = []
    restart: list[str] = []
    for path in sorted(set(a) | set(b)):
        if a.get(path) == b.get(path):
            continue
        if path.startswith("bots."):
            changes.append(ParamChange(path, a.get(path), b.get(path)))
        else:
            restart.append(path)
    return ReloadDiff(tuple(changes), tuple(restart))


def reload_config(path: str | Path, current: Config) -> tuple[Config, ReloadDiff]:
    """Re-read `path`; returns the config to use now and the diff (non-live parts keep their old values)."""
    fresh = load_config(path)
    if current.devnet.manifest is not None or fresh.devnet.manifest is not None:
        fresh = fresh.model_copy(update={"protocols": {
            n: p if not p.from_manifest or n not in current.protocols else current.protocols[n]
            for n, p in fresh.protocols.items()}})
    diff = diff_configs(current, fresh)
    return current.model_copy(update={"bots": fresh.bots}), diff


# ----------------------------------------------------------------------------------------------- display
def resolved_view(cfg: Config) -> dict[str, Any]:
    """The resolved config as plain data for `rtrm config check`, with every secret-bearing part masked."""
    data = cfg.model_dump(mode="json")
    data["bots"] = {k: v for k, v in data["bots"].items() if v is not None}
    data["storage"]["url"] = redacted(cfg.storage.url)
    if cfg.mqtt.url is not None:
        data["mqtt"]["url"] = redacted(cfg.mqtt.url)
    for chain in data["chains"].values():
        chain["rpc_urls"] = [redacted(u) for u in chain["rpc_urls"]]
        if chain.get("ws_url"):
            chain["ws_url"] = redacted(chain["ws_url"])
    for signer in data["signers"].values():
        for env_field in ("env", "password_env"):
            if signer.get(env_field):
                signer[env_field] = f"${signer[env_field]} (value not shown)"
    return data
