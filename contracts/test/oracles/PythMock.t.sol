// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {MockPyth} from "../../src/oracles/PythDeploy.sol";
import {PythStructs} from "@pythnetwork/pyth-sdk-solidity/PythStructs.sol";

contract PythMockTest is Test {
    bytes32 constant ETH_USD = 0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace;

    function test_updateThenReadNoOlderThan() public {
        vm.warp(1_700_000_000);
        MockPyth pyth = new MockPyth(60, 1 wei);
        bytes[] memory upd = new bytes[](1);
        upd[0] = pyth.createPriceFeedUpdateData(
            ETH_USD, 3012_34000000, 1_50000000, -8, 3010e8, 1e8, uint64(block.timestamp), uint64(block.timestamp - 1)
        );
        uint256 fee = pyth.getUpdateFee(upd);
        assertEq(fee, 1);
        pyth.updatePriceFeeds{value: fee}(upd);

        PythStructs.Price memory p = pyth.getPriceNoOlderThan(ETH_USD, 60);
        assertEq(p.price, 3012_34000000);
        assertEq(p.conf, 1_50000000);
        assertEq(p.expo, -8);
        assertEq(p.publishTime, 1_700_000_000);

        vm.warp(1_700_000_061); // older than 60 s now
        vm.expectRevert();
        pyth.getPriceNoOlderThan(ETH_USD, 60);
    }
}
