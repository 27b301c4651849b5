"""Human messages for transaction errors, worded like agave's Display impls.

Only the message text comes from here; the machine-readable ``err`` is always the canonical JSON from
LiteSVM, which is what clients parse.
"""

from __future__ import annotations

import re
from typing import Any

_FIELDLESS = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "SignatureFailure": "Transaction did not pass signature verification",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
}
_INSTRUCTION = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "AccountNotExecutable": "instruction expected an executable account",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "ProgramFailedToComplete": "Program failed to complete",
}


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def instruction_error_message(err: Any) -> str:
    if isinstance(err, dict) and "Custom" in err:
        return f"custom program error: {int(err['Custom']):#x}"
    if isinstance(err, dict) and "BorshIoError" in err:
        return f"Failed to serialize or deserialize account data: {err['BorshIoError']}"
    if isinstance(err, str):
        return _INSTRUCTION.get(err, _words(err))
    return str(err)


def transaction_error_message(err: Any) -> str:
    """E.g. ``{"InstructionError": [0, {"Custom": 1}]}`` → ``Error processing Instruction 0: custom program error: 0x1``."""
    if isinstance(err, str):
        return _FIELDLESS.get(err, _words(err))
    if isinstance(err, dict) and len(err) == 1:
        ((name, value),) = err.items()
        if name == "InstructionError" and isinstance(value, list) and len(value) == 2:
            return f"Error processing Instruction {value[0]}: {instruction_error_message(value[1])}"
        if name == "InsufficientFundsForRent" and isinstance(value, dict):
            return f"Transaction results in an account ({value.get('account_index')}) with insufficient funds for rent"
        if name == "DuplicateInstruction":
            return f"Transaction contains a duplicate instruction ({value}) that is not allowed"
        return f"{_words(name)}: {value}"
    return str(err)
