// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

// Importing MockPyth makes forge emit out/MockPyth.sol/MockPyth.json, which the devnet deployer uses to put
// Pyth's own mock (constructor(uint validTimePeriod, uint singleUpdateFeeInWei)) on base as a second price source.
// Production design: the Pyth pull oracle contract; deviation: MockPyth accepts unsigned update data built with
// createPriceFeedUpdateData instead of Wormhole-signed VAAs.
import {MockPyth} from "@pythnetwork/pyth-sdk-solidity/MockPyth.sol";
