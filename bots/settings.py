"""Process settings from the environment and an optional ``.env`` file.

``.env`` never overrides variables already set in the real environment (so CI and shells win). Every variable
read here is listed, with a comment, in ``.env.example``. Secrets are not settings: a component that needs a
key reads it itself and registers it with :func:`bots.logging.register_secret`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from dotenv import load_dotenv
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]

# env var name -> Settings field
ENV_VARS: Mapping[str, str] = {
    "RTRM_LOG_LEVEL": "log_level",
    "RTRM_LOG_JSON": "log_json",
    "RTRM_DEVNET_DIR": "devnet_dir",
    "RTRM_OUT_DIR": "out_dir",
    "RTRM_ANVIL": "anvil",
    "RTRM_FORGE": "forge",
    "RTRM_CAST": "cast",
}

# Read by name from rtrm.toml (`[signers.*] env = ...`, `password_env = ...`); these are the names the example
# config uses, listed in .env.example so a user knows where the key goes.
SIGNER_EXAMPLE_VARS: tuple[str, ...] = ("RTRM_KEEPER_KEY", "RTRM_KEYSTORE_PASSWORD")


class SettingsError(ValueError):
    """An environment variable has an invalid value; the message names it."""


class Settings(BaseModel):
    """Typed view of the RTRM_* variables the project reads."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    log_level: LogLevel = "INFO"
    log_json: Path | None = None
    devnet_dir: Path = Path("devnet")
    out_dir: Path | None = None
    anvil: Path | None = None
    forge: Path | None = None
    cast: Path | None = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, v: object) -> object:
        return v.strip().upper() if isinstance(v, str) else v


def load_settings(
    env_file: str | os.PathLike[str] | None = ".env", env: Mapping[str, str] | None = None
) -> Settings:
    """Load ``env_file`` (if it exists; real env wins) and build :class:`Settings` from ``env``/``os.environ``."""
    if env is None:
        if env_file is not None and Path(env_file).is_file():
            load_dotenv(env_file, override=False)
        env = os.environ
    values = {field: env[var] for var, field in ENV_VARS.items() if env.get(var, "").strip()}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        var = next((v for v, f in ENV_VARS.items() if f == field), field)
        raise SettingsError(
            f"environment variable {var}={values.get(field)!r} is invalid: {first['msg']}"
        ) from None
