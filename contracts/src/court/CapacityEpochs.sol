// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CourtBase} from "./CourtBase.sol";
import {MeshParameters} from "../MeshParameters.sol";

/// @title CapacityEpochs
/// @notice Proof of Capacity, committed per epoch and batched. A challenger (a requester that sends
///         agents benchmark jobs with a random seed, on all the slots they advertise, under a
///         deadline, and checks the answers) commits once per epoch the tally of every agent it
///         challenged: one transaction, one storage slot, any number of agents. The tallies
///         themselves travel as calldata (`reports`, each `agent << 96 | passed << 48 | failed`) and
///         the court keeps only their hash, so the cost per agent is its 32 bytes of calldata.
///
///         Timing is not something a signature can prove, so slashing for capacity rests on
///         witnesses: an agent is slashable for an epoch when at least `quorumMinAgents` distinct
///         eligible staked accounts (other than the agent) each committed `capacityFailThreshold` or
///         more failures for it in that epoch. It loses `slashFractionBps` of its stake, once per
///         epoch; it is not convicted (capacity is not correctness), but a slash that takes it below
///         the minimum stake takes it out of the market.
abstract contract CapacityEpochs is CourtBase {
    struct CapacityProof {
        address challenger;
        /// @notice The challenger's committed reports, in full (their hash is what was committed).
        uint256[] reports;
        /// @notice Which report is about the agent.
        uint256 index;
    }

    mapping(uint64 epoch => mapping(address challenger => bytes32)) public capacityCommitment;
    mapping(uint64 epoch => mapping(address agent => bool)) public capacitySlashed;

    event CapacityCommitted(
        uint64 indexed epoch, address indexed challenger, bytes32 commitment, uint256 agents, uint256 passed, uint256 failed
    );
    event CapacitySlashed(address indexed agent, uint64 indexed epoch, uint256 amount, uint256 witnesses);

    error EpochNotOpen(uint64 epoch, uint64 current);
    error AlreadyCommitted(uint64 epoch, address challenger);
    error NoReports();
    error NotCommitted(uint64 epoch, address challenger);
    error ReportMismatch(uint64 epoch, address challenger);
    error WrongAgent(address expected, address got);
    error BelowThreshold(address challenger, uint256 failed, uint256 threshold);
    error WitnessNotEligible(address challenger);
    error DuplicateWitness(address challenger);
    error TooFewWitnesses(uint256 witnesses, uint256 quorum);
    error AlreadySlashedForEpoch(address agent, uint64 epoch);

    function currentEpoch() public view returns (uint64) {
        return uint64(block.timestamp / params.get().epochLength);
    }

    /// @notice A report as packed in calldata.
    function packReport(address agent, uint48 passed, uint48 failed) public pure returns (uint256) {
        return (uint256(uint160(agent)) << 96) | (uint256(passed) << 48) | uint256(failed);
    }

    /// @notice Commits the caller's tallies for `epoch` (the current one, or the one just ended).
    function commitCapacity(uint64 epoch, uint256[] calldata reports) external {
        uint64 current = currentEpoch();
        if (epoch != current && epoch + 1 != current) revert EpochNotOpen(epoch, current);
        if (reports.length == 0) revert NoReports();
        if (capacityCommitment[epoch][msg.sender] != bytes32(0)) revert AlreadyCommitted(epoch, msg.sender);
        uint256 passed;
        uint256 failed;
        for (uint256 i = 0; i < reports.length; i++) {
            uint256 r = reports[i];
            passed += (r >> 48) & type(uint48).max;
            failed += r & type(uint48).max;
        }
        bytes32 commitment = keccak256(abi.encodePacked(reports));
        capacityCommitment[epoch][msg.sender] = commitment;
        emit CapacityCommitted(epoch, msg.sender, commitment, reports.length, passed, failed);
    }

    /// @notice Slashes `agent` for `epoch` on the witness of a quorum of staked challengers.
    function slashCapacity(address agent, uint64 epoch, CapacityProof[] calldata proofs) external nonReentrant {
        if (capacitySlashed[epoch][agent]) revert AlreadySlashedForEpoch(agent, epoch);
        MeshParameters.Params memory p = params.get();
        if (proofs.length < p.quorumMinAgents) revert TooFewWitnesses(proofs.length, p.quorumMinAgents);
        for (uint256 i = 0; i < proofs.length; i++) {
            CapacityProof calldata w = proofs[i];
            for (uint256 j = 0; j < i; j++) {
                if (proofs[j].challenger == w.challenger) revert DuplicateWitness(w.challenger);
            }
            if (w.challenger == agent) revert WitnessNotEligible(w.challenger);
            (bool eligible,) = _eligibleStake(w.challenger, p.minStake);
            if (!eligible) revert WitnessNotEligible(w.challenger);
            bytes32 committed = capacityCommitment[epoch][w.challenger];
            if (committed == bytes32(0)) revert NotCommitted(epoch, w.challenger);
            if (keccak256(abi.encodePacked(w.reports)) != committed) revert ReportMismatch(epoch, w.challenger);
            uint256 r = w.reports[w.index];
            address about = address(uint160(r >> 96));
            if (about != agent) revert WrongAgent(agent, about);
            uint256 failed = r & type(uint48).max;
            if (failed < p.capacityFailThreshold) revert BelowThreshold(w.challenger, failed, p.capacityFailThreshold);
        }
        capacitySlashed[epoch][agent] = true;
        uint256 amount = _slash(agent, keccak256(abi.encode("capacity", epoch)), msg.sender, p.slashFractionBps, p.reporterShareBps);
        emit CapacitySlashed(agent, epoch, amount, proofs.length);
    }
}
