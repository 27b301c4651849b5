"""Child process for the crash test: submit one action, report when it is broadcast, then wait to be killed."""

import asyncio
import sys

from web3 import AsyncHTTPProvider, AsyncWeb3

from bots.journal import IntentState, Journal
from chains.evm.lane import ActionRequest, EvmLane, LanePolicy
from tests.chains.evm.test_lane import RECIPIENT, _signer


async def main(url: str, db: str) -> None:
    journal = await Journal(db).open()
    lane = EvmLane(AsyncWeb3(AsyncHTTPProvider(url)), _signer(), "testchain", 31337, journal,
                   policy=LanePolicy(bump_after_s=600, poll_interval_s=0.05))
    await lane.start()
    await lane.submit(ActionRequest(key="liquidate:crash", to=RECIPIENT, value=11, bot="test", kind="liquidate"))
    intent = await lane.wait_final("liquidate:crash", states=frozenset({IntentState.SENT}), timeout=20)
    assert intent.id is not None
    while not any(a.status == "broadcast" for a in await journal.attempts(intent.id)):
        await asyncio.sleep(0.02)
    print("BROADCAST", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
