import pytest
from eth_abi import encode

from chains.evm.errors import (
    DecodedRevert,
    Reaction,
    RevertClass,
    RevertRules,
    SendError,
    classify_revert,
    classify_send_error,
    decode_revert,
    reaction_for,
)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        # anvil 1.7.1 (verified on this machine)
        ("nonce too low", SendError.NONCE_TOO_LOW),
        ("transaction already imported", SendError.ALREADY_KNOWN),
        ("Insufficient funds for gas * price + value", SendError.INSUFFICIENT_FUNDS),
        ("intrinsic gas too low", SendError.INTRINSIC_GAS_TOO_LOW),
        ("max fee per gas less than block base fee", SendError.FEE_BELOW_BASE_FEE),
        ("intrinsic gas too high -- tx.gas_limit > env.block.gas_limit", SendError.GAS_LIMIT_TOO_HIGH),
        # geth
        ("nonce too low: next nonce 5, tx nonce 3", SendError.NONCE_TOO_LOW),
        ("nonce too high", SendError.NONCE_TOO_HIGH),
        ("already known", SendError.ALREADY_KNOWN),
        ("replacement transaction underpriced", SendError.REPLACEMENT_UNDERPRICED),
        ("insufficient funds for gas * price + value: balance 0, tx cost 21000", SendError.INSUFFICIENT_FUNDS),
        ("exceeds block gas limit", SendError.GAS_LIMIT_TOO_HIGH),
        ("execution reverted: Healthy", SendError.EXECUTION_REVERTED),
        ("txpool is full", SendError.POOL_FULL),
        # nethermind / erigon flavours
        ("OldNonce", SendError.NONCE_TOO_LOW),
        ("AlreadyKnown", SendError.ALREADY_KNOWN),
        ("FeeCapTooLow", SendError.FEE_BELOW_BASE_FEE),
        ("connection reset by peer", SendError.UNKNOWN),
        ("", SendError.UNKNOWN),
    ],
)
def test_send_error_table(message: str, expected: SendError) -> None:
    assert classify_send_error(message) is expected


def test_reactions() -> None:
    assert reaction_for("nonce too low") is Reaction.RESYNC_NONCE
    assert reaction_for("already known") is Reaction.TREAT_AS_SENT
    assert reaction_for("replacement transaction underpriced") is Reaction.BUMP_FEES
    assert reaction_for("insufficient funds") is Reaction.HALT_LANE
    assert reaction_for("socket closed") is Reaction.RESYNC_NONCE


def test_decode_error_string_panic_and_custom() -> None:
    err = bytes.fromhex("08c379a0") + encode(["string"], ["auction over"])
    assert decode_revert(err).reason == "auction over"
    panic = bytes.fromhex("4e487b71") + encode(["uint256"], [0x11])
    assert decode_revert("0x" + panic.hex()).panic_code == 0x11
    custom = bytes.fromhex("deadbeef") + encode(["uint256"], [7])
    d = decode_revert(custom, {"0xdeadbeef": "Healthy"})
    assert (d.selector, d.reason, d.args_hex) == ("0xdeadbeef", "Healthy", encode(["uint256"], [7]).hex())


@pytest.mark.parametrize("payload", [b"", b"\x08\xc3", bytes.fromhex("08c379a0") + b"\x00" * 10,
                                     bytes.fromhex("08c379a0") + encode(["uint256", "uint256"], [32, 10**6])])
def test_malformed_revert_data_never_raises(payload: bytes) -> None:
    d = decode_revert(payload)
    assert isinstance(d, DecodedRevert)
    assert d.reason  # always something to journal


def test_classify_revert_with_protocol_rules() -> None:
    rules = RevertRules(outcompeted=frozenset({"Healthy", "AuctionEnded"}), retryable=frozenset({"StalePrice"}))
    assert classify_revert(DecodedRevert("0x1", "Healthy"), rules)[0] is RevertClass.OUTCOMPETED
    assert classify_revert(DecodedRevert("0x2", "StalePrice"), rules)[0] is RevertClass.RETRYABLE
    assert classify_revert(DecodedRevert("0x3", "NotApproved"), rules)[0] is RevertClass.FATAL
    assert classify_revert(DecodedRevert("0x4e487b71", "panic", panic_code=0x11), rules) == (
        RevertClass.FATAL, "panic 0x11")
