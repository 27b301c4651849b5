// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";

contract TestTokenTest is Test {
    TestToken internal usdc;

    function setUp() public {
        usdc = new TestToken("USD Coin", "USDC", 6);
    }

    function test_decimalsAndMint() public {
        assertEq(usdc.decimals(), 6);
        usdc.mint(address(0xBEEF), 1_000e6);
        assertEq(usdc.balanceOf(address(0xBEEF)), 1_000e6);
    }

    function test_onlyOwnerMints() public {
        vm.prank(address(0xBAD));
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(0xBAD)));
        usdc.mint(address(0xBAD), 1);
    }
}
