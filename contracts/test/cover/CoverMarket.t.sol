// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Test} from "forge-std/Test.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {TestToken} from "../../src/tokens/TestToken.sol";
import {CoverMarket} from "../../src/cover/CoverMarket.sol";

contract CoverMarketTest is Test {
    TestToken internal usdc;
    CoverMarket internal market;

    address internal admin = makeAddr("admin");
    address internal arbiter = makeAddr("arbiter");
    address internal underwriter = makeAddr("underwriter");
    address internal buyer = makeAddr("buyer");
    address internal disputer = makeAddr("disputer");
    address internal account = makeAddr("coveredAccount");
    address internal protocol = makeAddr("portfolioMargin");
    uint64 internal constant ARB = 42161;
    uint256 internal constant BOND = 100e6;
    bytes32 internal constant TX = keccak256("liquidation tx");

    uint256 internal coverId;

    function setUp() public {
        vm.warp(1_800_000_000);
        usdc = new TestToken("USD Coin", "USDC", 6);
        market = new CoverMarket(
            IERC20(address(usdc)),
            CoverMarket.Params({liveness: 2 hours, claimWindow: 1 days, claimBond: BOND, slashToPoolBps: 5_000}),
            admin
        );
        vm.startPrank(admin);
        market.grantRole(market.ARBITER_ROLE(), arbiter);
        market.setProtocolRate(ARB, protocol, 0.05e18); // 5 %/year
        vm.stopPrank();
        _fund(underwriter, 1_000_000e6);
        _fund(buyer, 10_000e6);
        _fund(disputer, 10_000e6);
        vm.prank(underwriter);
        market.deposit(1_000_000e6, underwriter);
        vm.prank(buyer);
        coverId = market.buyCover(account, ARB, protocol, 100_000e6, 30 days, type(uint256).max);
    }

    function _fund(address who, uint256 amount) internal {
        usdc.mint(who, amount);
        vm.prank(who);
        usdc.approve(address(market), type(uint256).max);
    }

    function _submit(uint256 loss, uint32 logIndex) internal returns (uint256) {
        vm.prank(buyer);
        return market.submitClaim(coverId, ARB, TX, logIndex, loss);
    }

    // premium = ceil(100_000e6 · 0.05 · 30/365) = ceil(410_958_904.109…) = 410_958_905
    uint256 internal constant PREMIUM = 410_958_905;

    function test_buyCoverChargesPremiumAndLocksCapital() public {
        assertEq(market.quotePremium(ARB, protocol, 100_000e6, 30 days), PREMIUM);
        assertEq(usdc.balanceOf(buyer), 10_000e6 - PREMIUM);
        assertEq(market.totalAssets(), 1_000_000e6 + PREMIUM);
        assertEq(market.totalLocked(), 100_000e6);
        assertEq(market.freeCapital(), 900_000e6 + PREMIUM);
        CoverMarket.Cover memory c = market.cover(coverId);
        assertEq(c.holder, buyer);
        assertEq(c.account, account);
        assertEq(c.end, c.start + 30 days);
        // event carries what an indexer needs
        vm.expectEmit(address(market));
        emit CoverMarket.CoverBought(
            1,
            buyer,
            account,
            ARB,
            protocol,
            1_000e6,
            4_109_590,
            uint64(block.timestamp),
            uint64(block.timestamp + 30 days)
        );
        vm.prank(buyer);
        market.buyCover(account, ARB, protocol, 1_000e6, 30 days, 4_109_590);
    }

    function test_buyCoverRejects() public {
        vm.startPrank(buyer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.ProtocolNotCoverable.selector, uint64(1), protocol));
        market.buyCover(account, 1, protocol, 1_000e6, 30 days, type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.PremiumTooHigh.selector, 4_109_590, 4_109_589));
        market.buyCover(account, ARB, protocol, 1_000e6, 30 days, 4_109_589);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.BadPeriod.selector, 1 hours, 1 days, 365 days));
        market.buyCover(account, ARB, protocol, 1_000e6, 1 hours, type(uint256).max);
        uint256 free = market.freeCapital();
        uint256 tooMuch = 5_000_000e6;
        uint256 premium = market.quotePremium(ARB, protocol, tooMuch, 1 days);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.InsufficientCapacity.selector, tooMuch, free + premium));
        market.buyCover(account, ARB, protocol, tooMuch, 1 days, type(uint256).max);
        vm.stopPrank();
    }

    function test_submitThenSettleAfterLiveness() public {
        vm.expectEmit(address(market));
        emit CoverMarket.ClaimSubmitted(
            0, coverId, buyer, ARB, TX, 7, 40_000e6, BOND, uint64(block.timestamp + 2 hours)
        );
        uint256 claimId = _submit(40_000e6, 7);
        assertEq(market.bondsHeld(), BOND);
        assertEq(market.remainingCover(coverId), 60_000e6);
        uint256 assetsBefore = market.totalAssets();
        vm.warp(block.timestamp + 2 hours - 1);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.LivenessNotExpired.selector, claimId, 1_800_000_000 + 2 hours)
        );
        market.settle(claimId);
        vm.warp(block.timestamp + 1);
        uint256 bal = usdc.balanceOf(buyer);
        vm.expectEmit(address(market));
        emit CoverMarket.ClaimSettled(claimId, coverId, buyer, 40_000e6, BOND);
        market.settle(claimId); // anyone may call
        assertEq(usdc.balanceOf(buyer), bal + 40_000e6 + BOND);
        assertEq(market.totalAssets(), assetsBefore - 40_000e6);
        assertEq(market.bondsHeld(), 0);
        assertEq(market.totalLocked(), 60_000e6);
        assertEq(uint8(market.claim(claimId).status), uint8(CoverMarket.ClaimStatus.Paid));
        assertEq(market.cover(coverId).paidOut, 40_000e6);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.WrongClaimStatus.selector, claimId, CoverMarket.ClaimStatus.Paid)
        );
        market.settle(claimId);
        // disputing a claim after its liveness is too late
        uint256 second = _submit(1_000e6, 8);
        vm.warp(block.timestamp + 2 hours);
        vm.prank(disputer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.LivenessExpired.selector, second, block.timestamp));
        market.dispute(second);
    }

    function test_disputeResolvedValid_slashesDisputer() public {
        uint256 claimId = _submit(40_000e6, 7);
        vm.expectEmit(address(market));
        emit CoverMarket.ClaimDisputed(claimId, disputer, BOND);
        vm.prank(disputer);
        market.dispute(claimId);
        assertEq(market.bondsHeld(), 2 * BOND);
        vm.warp(block.timestamp + 3 hours);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.WrongClaimStatus.selector, claimId, CoverMarket.ClaimStatus.Disputed)
        );
        market.settle(claimId);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, disputer, market.ARBITER_ROLE()
            )
        );
        vm.prank(disputer);
        market.resolve(claimId, false);

        uint256 assetsBefore = market.totalAssets();
        uint256 buyerBal = usdc.balanceOf(buyer);
        vm.expectEmit(address(market));
        emit CoverMarket.ClaimResolved(claimId, true, buyer, disputer, 40_000e6, 50e6, 50e6);
        vm.prank(arbiter);
        market.resolve(claimId, true);
        assertEq(usdc.balanceOf(buyer), buyerBal + 40_000e6 + BOND + 50e6, "payout + own bond + half of disputer's");
        assertEq(usdc.balanceOf(disputer), 10_000e6 - BOND, "disputer loses the bond");
        assertEq(market.totalAssets(), assetsBefore - 40_000e6 + 50e6, "pool pays the loss, keeps half the slash");
        assertEq(market.bondsHeld(), 0);
    }

    function test_disputeResolvedInvalid_slashesClaimant() public {
        uint256 claimId = _submit(40_000e6, 7);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.SelfDispute.selector, claimId));
        market.dispute(claimId);
        vm.prank(disputer);
        market.dispute(claimId);
        uint256 assetsBefore = market.totalAssets();
        vm.expectEmit(address(market));
        emit CoverMarket.ClaimResolved(claimId, false, disputer, buyer, 0, 50e6, 50e6);
        vm.prank(arbiter);
        market.resolve(claimId, false);
        assertEq(usdc.balanceOf(disputer), 10_000e6 + 50e6, "bond back + half of claimant's");
        assertEq(usdc.balanceOf(buyer), 10_000e6 - PREMIUM - BOND, "claimant loses the bond");
        assertEq(market.totalAssets(), assetsBefore + 50e6);
        assertEq(market.remainingCover(coverId), 100_000e6, "reservation released");
        assertEq(uint8(market.claim(claimId).status), uint8(CoverMarket.ClaimStatus.Rejected));
        // rejected evidence cannot be reused
        bytes32 key = market.evidenceKey(ARB, TX, 7);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.DuplicateEvidence.selector, key));
        market.submitClaim(coverId, ARB, TX, 7, 1_000e6);
    }

    function test_invalidClaimsRejected() public {
        vm.startPrank(buyer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.WrongChain.selector, uint64(1), ARB));
        market.submitClaim(coverId, 1, TX, 0, 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.ExceedsRemainingCover.selector, 100_001e6, 100_000e6));
        market.submitClaim(coverId, ARB, TX, 0, 100_001e6);
        vm.expectRevert(CoverMarket.ZeroAmount.selector);
        market.submitClaim(coverId, ARB, TX, 0, 0);
        vm.expectRevert(CoverMarket.EmptyEvidence.selector);
        market.submitClaim(coverId, ARB, bytes32(0), 0, 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.UnknownCover.selector, 9));
        market.submitClaim(9, ARB, TX, 0, 1_000e6);
        market.submitClaim(coverId, ARB, TX, 0, 70_000e6);
        // duplicate evidence, and the reservation counts against the remaining cover
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.DuplicateEvidence.selector, market.evidenceKey(ARB, TX, 0)));
        market.submitClaim(coverId, ARB, TX, 0, 1_000e6);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.ExceedsRemainingCover.selector, 30_001e6, 30_000e6));
        market.submitClaim(coverId, ARB, TX, 1, 30_001e6);
        vm.stopPrank();
        vm.prank(disputer);
        vm.expectRevert(abi.encodeWithSelector(CoverMarket.NotCoverHolder.selector, disputer, buyer));
        market.submitClaim(coverId, ARB, TX, 2, 1_000e6);
        // outside the cover period (+ claim window)
        CoverMarket.Cover memory c = market.cover(coverId);
        vm.warp(uint256(c.end) + 1 days + 1);
        vm.prank(buyer);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.OutsideCoverPeriod.selector, block.timestamp, c.start, c.end + 1 days)
        );
        market.submitClaim(coverId, ARB, TX, 3, 1_000e6);
    }

    function test_claimWindowAfterEndStillAccepted() public {
        CoverMarket.Cover memory c = market.cover(coverId);
        vm.warp(uint256(c.end) + 1 days);
        uint256 claimId = _submit(10_000e6, 0);
        vm.warp(block.timestamp + 2 hours);
        market.settle(claimId);
        assertEq(market.cover(coverId).paidOut, 10_000e6);
    }

    function test_capitalLockAndRelease() public {
        uint256 maxW = market.maxWithdraw(underwriter);
        assertEq(maxW, market.freeCapital());
        vm.prank(underwriter);
        vm.expectRevert(
            abi.encodeWithSelector(ERC4626.ERC4626ExceededMaxWithdraw.selector, underwriter, maxW + 1, maxW)
        );
        market.withdraw(maxW + 1, underwriter, underwriter);
        vm.expectEmit(address(market));
        emit CoverMarket.PoolWithdraw(underwriter, underwriter, underwriter, maxW, market.previewWithdraw(maxW));
        vm.prank(underwriter);
        market.withdraw(maxW, underwriter, underwriter);
        assertEq(market.totalAssets(), 100_000e6, "only locked capital left");

        uint256 claimId = _submit(30_000e6, 0);
        CoverMarket.Cover memory c = market.cover(coverId);
        vm.warp(uint256(c.end) + 1 days + 1);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.CoverStillActive.selector, coverId, uint256(c.end) + 1 days, uint32(1))
        );
        market.releaseCover(coverId);
        market.settle(claimId);
        vm.expectEmit(address(market));
        emit CoverMarket.CoverReleased(coverId, 70_000e6);
        market.releaseCover(coverId);
        assertEq(market.totalLocked(), 0);
        vm.expectRevert(
            abi.encodeWithSelector(CoverMarket.CoverStillActive.selector, coverId, uint256(c.end) + 1 days, uint32(0))
        );
        market.releaseCover(coverId);
        assertEq(market.freeCapital(), 70_000e6);
        assertEq(market.maxWithdraw(underwriter), market.previewRedeem(market.balanceOf(underwriter)));
        assertApproxEqAbs(market.maxWithdraw(underwriter), 70_000e6, 1, "all remaining assets");
    }

    /// @dev Whatever the loss and the arbiter's verdict, USDC is conserved and bonds are fully released.
    function testFuzz_disputeConservesFunds(uint256 loss, bool valid) public {
        loss = bound(loss, 1, 100_000e6);
        uint256 total = usdc.balanceOf(address(market)) + usdc.balanceOf(buyer) + usdc.balanceOf(disputer);
        uint256 claimId = _submit(loss, 5);
        vm.prank(disputer);
        market.dispute(claimId);
        vm.prank(arbiter);
        market.resolve(claimId, valid);
        assertEq(usdc.balanceOf(address(market)) + usdc.balanceOf(buyer) + usdc.balanceOf(disputer), total);
        assertEq(market.bondsHeld(), 0);
        assertEq(market.cover(coverId).paidOut, valid ? loss : 0);
        assertEq(market.totalLocked(), 100_000e6 - (valid ? loss : 0));
    }
}
