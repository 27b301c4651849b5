// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {VaultBase} from "./VaultBase.sol";
import {VaultOptions} from "../../src/vault/VaultOptions.sol";
import {VaultConfig} from "../../src/vault/VaultConfig.sol";
import {OptionToken} from "../../src/vault/OptionToken.sol";
import {PriceFeed} from "../../src/oracles/PriceFeed.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";

/// @dev Writer sells 2 options (2e8 units) from a vault holding 3000 USDC; the holder receives them; expiry at
///      T0 + 7 d. Rounds: 3000 at T0, a round 100 s before expiry, the settlement round 50 s after, one more later.
contract VaultSettlementTest is VaultBase {
    uint64 constant EXPIRY = T0 + 7 days;

    event VaultSettled(
        uint256 indexed vaultId,
        address indexed owner,
        uint256 indexed seriesId,
        uint256 shortAmount,
        uint256 liability,
        uint256 collateralReturned
    );

    struct Run {
        uint256 sid;
        OptionToken tok;
        uint256 vault;
        uint80 before;
        uint80 first;
        uint80 later;
    }

    function _run(bool isPut, uint256 strike, int256 settleAnswer) internal returns (Run memory r) {
        (r.sid, r.tok) = _series(strike, EXPIRY, isPut);
        r.vault = _writerVault(r.sid, 3000e6, 2e8);
        vm.prank(writer);
        r.tok.transfer(holder, 2e8);
        vm.warp(EXPIRY - 100);
        r.before = _price(2000e8);
        vm.warp(EXPIRY + 50);
        r.first = _price(settleAnswer);
        vm.warp(EXPIRY + 110);
        r.later = _price(9999e8);
    }

    function _settleAndRedeem(Run memory r) internal returns (uint256 returned, uint256 payout) {
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        uint256 writerBefore = usdc.balanceOf(writer);
        returned = vo.settleVault(r.vault); // anyone may settle; the excess goes to the owner
        assertEq(usdc.balanceOf(writer) - writerBefore, returned);
        vm.prank(holder);
        payout = vo.redeem(r.sid, 2e8);
        assertEq(usdc.balanceOf(holder), payout);
        assertEq(r.tok.totalSupply(), 0);
    }

    function test_itmPut() public {
        // K=3000, P=2600: payoff 400 per option; liability 2·400 = 800 USDC; returned 3000 − 800 = 2200
        Run memory r = _run(true, 3000e18, 2600e8);
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        vm.expectEmit(true, true, true, true);
        emit VaultSettled(r.vault, writer, r.sid, 2e8, 800e6, 2200e6);
        vo.settleVault(r.vault);
        vm.prank(holder);
        assertEq(vo.redeem(r.sid, 2e8), 800e6);
        assertEq(usdc.balanceOf(address(vo)), 0);
    }

    function test_otmPut() public {
        // K=3000, P=3100: payoff 0; full 3000 back; redeem pays 0 and burns
        (uint256 returned, uint256 payout) = _settleAndRedeem(_run(true, 3000e18, 3100e8));
        assertEq(returned, 3000e6);
        assertEq(payout, 0);
    }

    function test_itmCall() public {
        // K=3200, P=3500: payoff 300; liability 600; returned 2400.
        // (mint check at S=3000, τ=7 d: 0.1678·3200 + (4000 − 3200) = 1336.96 per option, 2673.92 <= 3000)
        (uint256 returned, uint256 payout) = _settleAndRedeem(_run(false, 3200e18, 3500e8));
        assertEq(returned, 2400e6);
        assertEq(payout, 600e6);
        assertEq(usdc.balanceOf(address(vo)), 0);
    }

    function test_otmCall() public {
        (uint256 returned, uint256 payout) = _settleAndRedeem(_run(false, 3200e18, 3100e8));
        assertEq(returned, 3000e6);
        assertEq(payout, 0);
    }

    function test_expiryRoundVerification() public {
        Run memory r = _run(true, 3000e18, 2600e8);
        // round before expiry
        vm.expectRevert(
            abi.encodeWithSelector(VaultOptions.NotFirstRoundAfterExpiry.selector, r.before, EXPIRY - 100, 0, EXPIRY)
        );
        vo.setExpiryPrice(address(weth), EXPIRY, r.before);
        // a later round whose predecessor is already after expiry
        vm.expectRevert(
            abi.encodeWithSelector(
                VaultOptions.NotFirstRoundAfterExpiry.selector, r.later, EXPIRY + 110, EXPIRY + 50, EXPIRY
            )
        );
        vo.setExpiryPrice(address(weth), EXPIRY, r.later);
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        (uint256 price, uint80 rid) = vo.expiryPrice(address(weth), EXPIRY);
        assertEq(price, 2600e18);
        assertEq(rid, r.first);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.ExpiryPriceAlreadySet.selector, address(weth), EXPIRY));
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
    }

    function test_settleAndRedeemNeedExpiryAndPrice() public {
        (uint256 sid,) = _series(3000e18, EXPIRY, true);
        uint256 v = _writerVault(sid, 3000e6, 2e8);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.SeriesNotExpired.selector, sid, EXPIRY));
        vo.settleVault(v);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.SeriesNotExpired.selector, sid, EXPIRY));
        vo.redeem(sid, 1e8);
        vm.warp(EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.ExpiryPriceNotSet.selector, address(weth), EXPIRY));
        vo.settleVault(v);
        // after expiry the owner can neither withdraw nor mint: settlement is the only exit
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.SeriesExpired.selector, sid, EXPIRY));
        vo.withdraw(v, 1);
    }

    function test_settleTwiceReverts() public {
        Run memory r = _run(true, 3000e18, 2600e8);
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        vo.settleVault(r.vault);
        vm.expectRevert(abi.encodeWithSelector(VaultOptions.VaultIsSettled.selector, r.vault));
        vo.settleVault(r.vault);
    }

    function test_insolventVaultReturnsNothing() public {
        // K=3000, P=1000: liability 2·2000 = 4000 > 3000 collateral → owner gets 0 (holders share the pool)
        Run memory r = _run(true, 3000e18, 1000e8);
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        assertEq(vo.settleVault(r.vault), 0);
    }

    function test_redeemRoundsDown() public {
        Run memory r = _run(false, 3200e18, 3200_00000001); // payoff 1e-8 USD = 1e10 wei per option
        vo.setExpiryPrice(address(weth), EXPIRY, r.first);
        vm.prank(holder);
        assertEq(vo.redeem(r.sid, 2e8), 0); // 2e8 · 1e10 / 1e20 = 0.02 units → 0
        // the vault owes the rounded-up liability: ceil(0.02) = 1 unit
        assertEq(vo.settleVault(r.vault), 3000e6 - 1);
    }

    function test_expiryPriceFromAFeedsVeryFirstRound() public {
        // The settlement round is aggregator round 1: there is no previous round (getRoundData reverts), which
        // counts as "previous round older than expiry".
        PriceFeed btcFeed = new PriceFeed("BTC / USD", 8, address(this));
        TestToken wbtc = new TestToken("Wrapped BTC", "WBTC", 8);
        vo.setOracle(address(wbtc), btcFeed);
        vo.createSeries(address(wbtc), 60_000e18, EXPIRY, true);
        vm.warp(EXPIRY);
        uint80 first = btcFeed.updateAnswer(59_000e8); // updatedAt == expiry counts as "at/after expiry"
        vo.setExpiryPrice(address(wbtc), EXPIRY, first);
        (uint256 price,) = vo.expiryPrice(address(wbtc), EXPIRY);
        assertEq(price, 59_000e18);
        assertEq(vo.payoffPerOption(1), 1000e18);
    }

    function test_invalidRoundsAfterExpiryAreSkipped() public {
        (uint256 sid,) = _series(3000e18, EXPIRY, true);
        vm.warp(EXPIRY + 10);
        uint80 zero = _price(0); // first round after expiry is invalid
        vm.warp(EXPIRY + 20);
        uint80 valid = _price(2600e8); // first VALID round: settles
        vm.warp(EXPIRY + 30);
        _price(-1);
        vm.warp(EXPIRY + 40);
        uint80 later = _price(2700e8); // walks back over the -1 round and finds `valid`
        vm.expectRevert(
            abi.encodeWithSelector(
                VaultOptions.NotFirstRoundAfterExpiry.selector, later, EXPIRY + 40, EXPIRY + 20, EXPIRY
            )
        );
        vo.setExpiryPrice(address(weth), EXPIRY, later);
        vm.expectRevert(abi.encodeWithSelector(VaultConfig.InvalidOraclePrice.selector, address(feed), zero, int256(0)));
        vo.setExpiryPrice(address(weth), EXPIRY, zero);
        vo.setExpiryPrice(address(weth), EXPIRY, valid);
        assertEq(vo.payoffPerOption(sid), 400e18);
    }
}
