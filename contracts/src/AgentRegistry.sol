// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title AgentRegistry
/// @notice Staked agents. An agent joins by staking at least `minStake` of `stakeToken` from its
///         payout address and naming its ed25519 mesh key (the 32-byte public key it signs results
///         with). A key is bound to the first address that registers it, for good: no other address
///         can ever register it, even after that agent has left. An address holds one key at a time.
///
///         Leaving takes two steps: `requestUnbond` (the agent stops being active at once), then
///         `withdraw` once `unbondingDelay` seconds have passed. The stake stays slashable until it is
///         withdrawn.
///
///         Slashing is deliberately narrow: one `slasher` address, fixed at deployment (the
///         verification work decides later who that is, e.g. a dispute contract), may call
///         `slash(agent, amount, reason)`; the slashed tokens go to the slasher. No one else can
///         move anyone's stake.
contract AgentRegistry is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    struct Agent {
        bytes32 meshKey; // 0: not registered
        uint128 stake;
        uint48 unbondingEndsAt; // 0: not unbonding; else withdraw is possible from then on
    }

    IERC20 public immutable stakeToken;
    uint256 public immutable minStake;
    uint48 public immutable unbondingDelay;
    address public immutable slasher;

    mapping(address agent => Agent) private _agents;
    /// @notice The address each mesh key is bound to (permanently).
    mapping(bytes32 meshKey => address agent) public keyOwner;

    event AgentRegistered(address indexed agent, bytes32 indexed meshKey, uint256 stake);
    event StakeAdded(address indexed agent, uint256 amount, uint256 stake);
    event UnbondRequested(address indexed agent, uint256 stake, uint48 unbondingEndsAt);
    event StakeWithdrawn(address indexed agent, uint256 amount);
    event Slashed(address indexed agent, uint256 amount, uint256 remainingStake, bytes32 indexed reason);

    error InvalidSlasher();
    error ZeroAmount();
    error ZeroMeshKey();
    error AmountTooLarge(uint256 amount);
    error StakeTooLow(uint256 amount, uint256 minStake);
    error AlreadyRegistered(address agent, bytes32 meshKey);
    error KeyAlreadyBound(bytes32 meshKey, address owner);
    error NotRegistered(address agent);
    error AlreadyUnbonding(address agent, uint256 unbondingEndsAt);
    error NotUnbonding(address agent);
    error UnbondingNotElapsed(address agent, uint256 unbondingEndsAt, uint256 timestamp);
    error NotSlasher(address caller);
    error SlashExceedsStake(address agent, uint256 amount, uint256 stake);
    error UnexpectedTransferAmount(uint256 expected, uint256 received);

    constructor(IERC20 stakeToken_, uint256 minStake_, uint48 unbondingDelay_, address slasher_) {
        if (slasher_ == address(0)) revert InvalidSlasher();
        stakeToken = stakeToken_;
        minStake = minStake_;
        unbondingDelay = unbondingDelay_;
        slasher = slasher_;
    }

    /// @notice Joins with `meshKey` (ed25519 public key) and `amount` of stake from the caller, who
    ///         becomes the payout address (approve first).
    function register(bytes32 meshKey, uint256 amount) external nonReentrant {
        if (meshKey == bytes32(0)) revert ZeroMeshKey();
        Agent storage a = _agents[msg.sender];
        if (a.meshKey != bytes32(0)) revert AlreadyRegistered(msg.sender, a.meshKey);
        address owner = keyOwner[meshKey];
        if (owner != address(0) && owner != msg.sender) revert KeyAlreadyBound(meshKey, owner);
        if (amount < minStake || amount == 0) revert StakeTooLow(amount, minStake);
        if (amount > type(uint128).max) revert AmountTooLarge(amount);

        if (owner == address(0)) keyOwner[meshKey] = msg.sender;
        a.meshKey = meshKey;
        a.stake = uint128(amount);
        emit AgentRegistered(msg.sender, meshKey, amount);

        _pull(msg.sender, amount);
    }

    /// @notice Adds stake (not while unbonding).
    function addStake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(msg.sender);
        if (a.unbondingEndsAt != 0) revert AlreadyUnbonding(msg.sender, a.unbondingEndsAt);
        uint256 stake = uint256(a.stake) + amount;
        if (stake > type(uint128).max) revert AmountTooLarge(stake);

        a.stake = uint128(stake);
        emit StakeAdded(msg.sender, amount, stake);

        _pull(msg.sender, amount);
    }

    /// @notice Starts unbonding the whole stake; the agent is inactive from now on.
    function requestUnbond() external {
        Agent storage a = _registered(msg.sender);
        if (a.unbondingEndsAt != 0) revert AlreadyUnbonding(msg.sender, a.unbondingEndsAt);

        uint48 endsAt = uint48(block.timestamp) + unbondingDelay;
        a.unbondingEndsAt = endsAt;
        emit UnbondRequested(msg.sender, a.stake, endsAt);
    }

    /// @notice After the unbonding delay: returns the (remaining) stake and removes the agent.
    ///         Its mesh key stays bound to this address.
    function withdraw() external nonReentrant returns (uint256 amount) {
        Agent storage a = _registered(msg.sender);
        uint48 endsAt = a.unbondingEndsAt;
        if (endsAt == 0) revert NotUnbonding(msg.sender);
        if (block.timestamp < endsAt) revert UnbondingNotElapsed(msg.sender, endsAt, block.timestamp);

        amount = a.stake;
        delete _agents[msg.sender];
        emit StakeWithdrawn(msg.sender, amount);

        if (amount != 0) stakeToken.safeTransfer(msg.sender, amount);
    }

    /// @notice The only way stake leaves other than `withdraw`: the slasher takes `amount` of
    ///         `agent`'s stake (active or unbonding), with `reason` (e.g. the hash of the evidence).
    function slash(address agent, uint256 amount, bytes32 reason) external nonReentrant {
        if (msg.sender != slasher) revert NotSlasher(msg.sender);
        if (amount == 0) revert ZeroAmount();
        Agent storage a = _registered(agent);
        uint256 stake = a.stake;
        if (amount > stake) revert SlashExceedsStake(agent, amount, stake);

        a.stake = uint128(stake - amount);
        emit Slashed(agent, amount, stake - amount, reason);

        stakeToken.safeTransfer(msg.sender, amount);
    }

    // ---- views -------------------------------------------------------------------------------

    function getAgent(address agent) external view returns (Agent memory) {
        return _agents[agent];
    }

    /// @notice Registered, not unbonding, and staked at least `minStake`.
    function isActive(address agent) external view returns (bool) {
        Agent storage a = _agents[agent];
        return a.meshKey != bytes32(0) && a.unbondingEndsAt == 0 && a.stake >= minStake;
    }

    /// @notice The payout address of an active agent with `meshKey`, or address(0).
    function activeAgentOf(bytes32 meshKey) external view returns (address) {
        address agent = keyOwner[meshKey];
        Agent storage a = _agents[agent];
        if (a.meshKey != meshKey || meshKey == bytes32(0) || a.unbondingEndsAt != 0 || a.stake < minStake) {
            return address(0);
        }
        return agent;
    }

    // ---- internals ---------------------------------------------------------------------------

    function _registered(address agent) private view returns (Agent storage a) {
        a = _agents[agent];
        if (a.meshKey == bytes32(0)) revert NotRegistered(agent);
    }

    function _pull(address from, uint256 amount) private {
        uint256 before = stakeToken.balanceOf(address(this));
        stakeToken.safeTransferFrom(from, address(this), amount);
        uint256 after_ = stakeToken.balanceOf(address(this));
        if (after_ < before || after_ - before != amount) {
            revert UnexpectedTransferAmount(amount, after_ < before ? 0 : after_ - before);
        }
    }
}
