// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {PaymentChannels} from "../PaymentChannels.sol";
import {AgentRegistry} from "../AgentRegistry.sol";

/// @title HostileToken (tests only)
/// @notice An ERC-20 whose transfers out of the channels contract (or the registry) re-enter it.
///         The token contract itself plays the attacker's account: it can be a channel's payee (and
///         then replays the voucher it is being paid for, through `settle` or `settleMany`), a
///         channel's requester (and then calls `finalizeClose` again while its refund is being
///         transferred) or a registered agent (and calls `withdraw` again while its stake comes back). Each
///         re-entry is attempted once per arming, inside try/catch, and its outcome is recorded,
///         so the outer call completes and the test can read what the re-entry got.
///         `shortDeliver` turns it into a fee-on-transfer token instead.
contract HostileToken is ERC20 {
    enum Attack {
        None,
        Settle,
        SettleMany,
        FinalizeClose,
        RegistryWithdraw
    }

    PaymentChannels public channels;
    AgentRegistry public registry;
    Attack public attack;
    PaymentChannels.Voucher private _voucher;
    bytes private _signature;
    uint256 private _channelId;

    /// @notice When set, a transfer INTO the channels contract delivers one unit less (fee-on-transfer).
    bool public shortDeliver;

    uint256 public reentryAttempts;
    uint256 public reentrySuccesses;
    bytes public lastReentryError;

    constructor() ERC20("Hostile", "HOST") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setChannels(PaymentChannels channels_) external {
        channels = channels_;
    }

    function setRegistry(AgentRegistry registry_) external {
        registry = registry_;
    }

    function setShortDeliver(bool on) external {
        shortDeliver = on;
    }

    function arm(Attack attack_, PaymentChannels.Voucher calldata voucher, bytes calldata signature, uint256 channelId)
        external
    {
        attack = attack_;
        _voucher = voucher;
        _signature = signature;
        _channelId = channelId;
    }

    // -- the token contract acting as a channel party ------------------------------------------

    function openAsRequester(address payee, uint256 amount, uint48 expiry) external returns (uint256) {
        _approve(address(this), address(channels), amount);
        return channels.open(payee, amount, expiry);
    }

    function startCloseAsRequester(uint256 channelId) external {
        channels.startClose(channelId);
    }

    function finalizeAsRequester(uint256 channelId) external returns (uint256) {
        return channels.finalizeClose(channelId);
    }

    function settleAsPayee(PaymentChannels.Voucher calldata voucher, bytes calldata signature) external returns (uint256) {
        return channels.settle(voucher, signature);
    }

    function registerAsAgent(bytes32 meshKey, uint256 amount) external {
        _approve(address(this), address(registry), amount);
        registry.register(meshKey, amount);
    }

    function requestUnbondAsAgent() external {
        registry.requestUnbond();
    }

    function withdrawAsAgent() external returns (uint256) {
        return registry.withdraw();
    }

    // -- the hook --------------------------------------------------------------------------------

    function _update(address from, address to, uint256 value) internal override {
        if (shortDeliver && to == address(channels) && value > 0) {
            super._update(from, to, value - 1);
            super._update(from, address(0), 1); // the "fee" is burnt
            return;
        }
        super._update(from, to, value);
        bool fromVictim = from != address(0) && (from == address(channels) || from == address(registry));
        if (fromVictim && attack != Attack.None) {
            Attack a = attack;
            attack = Attack.None; // once per arming
            reentryAttempts += 1;
            bool ok;
            bytes memory err;
            if (a == Attack.Settle) {
                try channels.settle(_voucher, _signature) {
                    ok = true;
                } catch (bytes memory e) {
                    err = e;
                }
            } else if (a == Attack.SettleMany) {
                PaymentChannels.Voucher[] memory vs = new PaymentChannels.Voucher[](1);
                bytes[] memory ss = new bytes[](1);
                vs[0] = _voucher;
                ss[0] = _signature;
                try channels.settleMany(vs, ss) {
                    ok = true;
                } catch (bytes memory e) {
                    err = e;
                }
            } else if (a == Attack.RegistryWithdraw) {
                try registry.withdraw() {
                    ok = true;
                } catch (bytes memory e) {
                    err = e;
                }
            } else {
                try channels.finalizeClose(_channelId) {
                    ok = true;
                } catch (bytes memory e) {
                    err = e;
                }
            }
            if (ok) reentrySuccesses += 1;
            lastReentryError = err;
        }
    }
}
