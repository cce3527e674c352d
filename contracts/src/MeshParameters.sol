// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title MeshParameters
/// @notice The mesh's governed parameters, in one storage slot (one SLOAD reads them all). The owner
///         is the TimelockController of the MeshGovernor: a parameter changes only through a passed,
///         queued and executed proposal. Every setter checks its range (the bounds are constants, so
///         governance cannot set a value that breaks the verification rules, e.g. a quorum a pair
///         of colluders could reach).
contract MeshParameters is Ownable {
    /// @notice A winning class of evidence needs at least this many distinct staked agents, whatever
    ///         governance decides: two colluding agents can never slash anyone.
    uint8 public constant MIN_QUORUM_AGENTS = 3;
    uint8 public constant MAX_QUORUM_AGENTS = 16;
    uint16 public constant BPS = 10_000;
    /// @notice The challenge window must end well before the registry's unbonding delay (7 days by
    ///         default) so an accused agent cannot withdraw before a case resolves.
    uint32 public constant MAX_CHALLENGE_WINDOW = 3 days;
    uint32 public constant MIN_CHALLENGE_WINDOW = 60;
    uint32 public constant MIN_EPOCH_LENGTH = 60;
    uint32 public constant MAX_EPOCH_LENGTH = 30 days;

    struct Params {
        /// @notice Stake (token base units) an agent needs to be in the market.
        uint96 minStake;
        /// @notice Share of a convicted agent's stake that is slashed, in basis points.
        uint16 slashFractionBps;
        /// @notice Share of the slashed amount paid to the reporter; the rest goes to the owner (the timelock).
        uint16 reporterShareBps;
        /// @notice Seconds a case stays open for more statements before it can be resolved.
        uint32 challengeWindow;
        /// @notice Seconds per Proof of Capacity epoch.
        uint32 epochLength;
        /// @notice Default fraction of accepted results requesters re-run on another agent, in basis points.
        uint16 spotCheckBps;
        /// @notice Distinct staked agents a winning class of statements needs (>= MIN_QUORUM_AGENTS).
        uint8 quorumMinAgents;
        /// @notice Failed capacity challenges in one epoch, reported by each of a quorum of staked
        ///         challengers, past which an agent is slashable.
        uint16 capacityFailThreshold;
    }

    Params private _p;

    event ParameterChanged(bytes32 indexed name, uint256 oldValue, uint256 newValue);

    error OutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);

    constructor(address owner_, Params memory initial) Ownable(owner_) {
        _check("quorumMinAgents", initial.quorumMinAgents, MIN_QUORUM_AGENTS, MAX_QUORUM_AGENTS);
        _check("slashFractionBps", initial.slashFractionBps, 1, BPS);
        _check("reporterShareBps", initial.reporterShareBps, 0, BPS);
        _check("challengeWindow", initial.challengeWindow, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW);
        _check("epochLength", initial.epochLength, MIN_EPOCH_LENGTH, MAX_EPOCH_LENGTH);
        _check("spotCheckBps", initial.spotCheckBps, 0, BPS);
        _check("capacityFailThreshold", initial.capacityFailThreshold, 1, type(uint16).max);
        _check("minStake", initial.minStake, 1, type(uint96).max);
        _p = initial;
    }

    /// @notice All parameters at once (what the market and the court read).
    function get() external view returns (Params memory) {
        return _p;
    }

    function minStake() external view returns (uint256) {
        return _p.minStake;
    }

    function setMinStake(uint256 value) external onlyOwner {
        _check("minStake", value, 1, type(uint96).max);
        emit ParameterChanged("minStake", _p.minStake, value);
        _p.minStake = uint96(value);
    }

    function setSlashFractionBps(uint256 value) external onlyOwner {
        _check("slashFractionBps", value, 1, BPS);
        emit ParameterChanged("slashFractionBps", _p.slashFractionBps, value);
        _p.slashFractionBps = uint16(value);
    }

    function setReporterShareBps(uint256 value) external onlyOwner {
        _check("reporterShareBps", value, 0, BPS);
        emit ParameterChanged("reporterShareBps", _p.reporterShareBps, value);
        _p.reporterShareBps = uint16(value);
    }

    function setChallengeWindow(uint256 value) external onlyOwner {
        _check("challengeWindow", value, MIN_CHALLENGE_WINDOW, MAX_CHALLENGE_WINDOW);
        emit ParameterChanged("challengeWindow", _p.challengeWindow, value);
        _p.challengeWindow = uint32(value);
    }

    function setEpochLength(uint256 value) external onlyOwner {
        _check("epochLength", value, MIN_EPOCH_LENGTH, MAX_EPOCH_LENGTH);
        emit ParameterChanged("epochLength", _p.epochLength, value);
        _p.epochLength = uint32(value);
    }

    function setSpotCheckBps(uint256 value) external onlyOwner {
        _check("spotCheckBps", value, 0, BPS);
        emit ParameterChanged("spotCheckBps", _p.spotCheckBps, value);
        _p.spotCheckBps = uint16(value);
    }

    function setQuorumMinAgents(uint256 value) external onlyOwner {
        _check("quorumMinAgents", value, MIN_QUORUM_AGENTS, MAX_QUORUM_AGENTS);
        emit ParameterChanged("quorumMinAgents", _p.quorumMinAgents, value);
        _p.quorumMinAgents = uint8(value);
    }

    function setCapacityFailThreshold(uint256 value) external onlyOwner {
        _check("capacityFailThreshold", value, 1, type(uint16).max);
        emit ParameterChanged("capacityFailThreshold", _p.capacityFailThreshold, value);
        _p.capacityFailThreshold = uint16(value);
    }

    function _check(bytes32 name, uint256 value, uint256 min, uint256 max) private pure {
        if (value < min || value > max) revert OutOfRange(name, value, min, max);
    }
}
