import json
from pathlib import Path

import pytest
from eth_account import Account

from chains.evm.signer import SignerError, signer_from_env, signer_from_keystore
from tests.chains.evm.anvil_node import DEV_KEYS

KEY = DEV_KEYS[1]
ADDRESS = Account.from_key(KEY).address


def test_env_signer_and_its_repr_hide_the_key() -> None:
    signer = signer_from_env("RTRM_KEEPER_KEY", {"RTRM_KEEPER_KEY": KEY})
    assert signer.address == ADDRESS
    for text in (repr(signer), str(signer), f"{signer}"):
        assert KEY[2:] not in text and KEY[2:].lower() not in text.lower()
        assert ADDRESS in text


@pytest.mark.parametrize(("env", "expected"), [({}, "is not set"), ({"K": "0x1234"}, "32-byte hex"),
                                              ({"K": "zz" * 32}, "32-byte hex")])
def test_env_signer_errors_name_the_variable_not_the_value(env: dict[str, str], expected: str) -> None:
    with pytest.raises(SignerError, match=expected) as info:
        signer_from_env("K", env)
    assert "K" in str(info.value)
    for value in env.values():
        assert value not in str(info.value)


def test_keystore_signer(tmp_path: Path) -> None:
    path = tmp_path / "keeper.json"
    path.write_text(json.dumps(Account.encrypt(KEY, "s3cret-pass", iterations=2)))
    assert signer_from_keystore(path, "PW", {"PW": "s3cret-pass"}).address == ADDRESS
    with pytest.raises(SignerError, match="cannot decrypt") as info:
        signer_from_keystore(path, "PW", {"PW": "wrong-pass"})
    assert "wrong-pass" not in str(info.value)
    with pytest.raises(SignerError, match="PW"):
        signer_from_keystore(path, "PW", {})
    with pytest.raises(SignerError, match="does not exist"):
        signer_from_keystore(tmp_path / "missing.json", "PW", {"PW": "x"})
