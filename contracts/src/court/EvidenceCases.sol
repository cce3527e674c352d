// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CourtBase} from "./CourtBase.sol";
import {MeshParameters} from "../MeshParameters.sol";

/// @title EvidenceCases
/// @notice Slashing from signed statements, with no trusted slasher.
///
///         A statement is an agent's EIP-712 signed claim "job `job` ended with (`outcome`, `output`,
///         `fuel`)". `job` commits to everything that decides a deterministic run (module, input, job
///         id, fuel/memory/output limits); fuel metering and WASI are deterministic, so two honest
///         agents can never sign different results for the same `job`.
///
///         Anyone holding contradicting statements opens a case for `job` (`accuse`); during the
///         challenge window anyone may add more statements (the accused agent's friends, referees,
///         the agent itself). Each staked, eligible agent counts once. After the window, `resolve`
///         finds the class of identical results with the most distinct agents; it wins only if it is
///         strictly the largest and has at least `quorumMinAgents` (>= 3, a constant floor) members.
///         Every agent in a losing class is then convicted: it loses `slashFractionBps` of its stake
///         (the reporter, who opened the case, gets `reporterShareBps` of that) and leaves the market
///         for good (`isEligible` is false once convicted). A tie, or a largest class below the
///         quorum, dismisses the case: nobody is slashed.
///
///         Refused as evidence: statements with a non-deterministic outcome (deadline, internal
///         failure, and every other code >= 64), signatures that recover to no bound attester
///         (forged or altered statements, statements for another chain or court), agents that are
///         not eligible, a second statement by the same agent, statements for a resolved case.
///         An agent that signed two different results for one job contradicts itself: that is
///         convicted at once (`convictSelfContradiction`), no quorum needed.
abstract contract EvidenceCases is CourtBase {
    bytes32 public constant STATEMENT_TYPEHASH = keccak256("Statement(bytes32 job,uint8 outcome,bytes32 output,uint64 fuel)");
    /// @notice Outcomes at or above this are not deterministic (deadline, internal, ...): never evidence.
    uint8 public constant FIRST_NONDETERMINISTIC = 64;
    uint8 public constant OUTCOME_OK = 0;
    bytes32 private constant PUNISHED = bytes32(uint256(1));

    /// @notice One signed statement of a case (`job` is the case's), signature in ERC-2098 form.
    struct Vote {
        uint8 outcome;
        bytes32 output;
        uint64 fuel;
        bytes32 r;
        bytes32 vs;
    }

    struct Case {
        address reporter;
        uint48 closesAt;
        uint16 classes;
        bool resolved;
        bool tie;
        uint32 statements;
        uint32 topCount;
        bytes32 top;
        /// @notice Set when resolved with a winner; zero when dismissed.
        bytes32 winner;
    }

    mapping(bytes32 job => Case) private _cases;
    /// @notice Agents per class of result (`resultHash`) in a case.
    mapping(bytes32 job => mapping(bytes32 result => uint32)) public classCount;
    mapping(bytes32 job => mapping(address account => bytes32 result)) private _voteOf;

    event CaseOpened(bytes32 indexed job, address indexed reporter, uint48 closesAt);
    event StatementCounted(bytes32 indexed job, address indexed account, bytes32 indexed result, uint8 outcome);
    event CaseResolved(bytes32 indexed job, bytes32 indexed winner, uint32 winners);
    event CaseDismissed(bytes32 indexed job, uint32 topCount, bool tie);
    event Convicted(address indexed account, bytes32 indexed job, uint256 amount);

    error NoStatements();
    error NonDeterministic(uint8 outcome);
    error NonCanonical(uint8 outcome, bytes32 output);
    error AlreadyCounted(bytes32 job, address account);
    error SelfContradiction(bytes32 job, address account);
    error NoContradiction(bytes32 job);
    error CaseClosed(bytes32 job, uint48 closesAt);
    error CaseResolvedAlready(bytes32 job);
    error NoSuchCase(bytes32 job);
    error CaseStillOpen(bytes32 job, uint48 closesAt);
    error NotALoser(bytes32 job, address account);
    error NoWinner(bytes32 job);
    error SameResult(bytes32 job);
    error DifferentSigners(address first, address second);

    /// @notice The hash a class of identical results is known by.
    function resultHash(uint8 outcome, bytes32 output, uint64 fuel) public pure returns (bytes32) {
        return keccak256(abi.encode(outcome, output, fuel));
    }

    /// @notice The EIP-712 struct hash of a statement.
    function statementHash(bytes32 job, uint8 outcome, bytes32 output, uint64 fuel) public pure returns (bytes32) {
        return keccak256(abi.encode(STATEMENT_TYPEHASH, job, outcome, output, fuel));
    }

    /// @notice Opens a case for `job` (the first statements must disagree) or adds statements to its
    ///         open case. The caller of the opening call is the case's reporter.
    function accuse(bytes32 job, Vote[] calldata votes) external nonReentrant {
        if (votes.length == 0) revert NoStatements();
        Case storage c = _cases[job];
        if (c.resolved) revert CaseResolvedAlready(job);
        bool opening = c.closesAt == 0;
        if (!opening && block.timestamp >= c.closesAt) revert CaseClosed(job, c.closesAt);
        uint256 minStake = params.get().minStake;
        for (uint256 i = 0; i < votes.length; i++) {
            _count(c, job, votes[i], minStake);
        }
        if (c.classes < 2) revert NoContradiction(job);
        if (opening) {
            MeshParameters.Params memory p = params.get();
            c.reporter = msg.sender;
            c.closesAt = uint48(block.timestamp) + p.challengeWindow;
            emit CaseOpened(job, msg.sender, c.closesAt);
        }
    }

    /// @notice After the window: decides the case and convicts the losers named in `losers` (more can
    ///         be named later with `punish`; anyone may call either).
    function resolve(bytes32 job, address[] calldata losers) external nonReentrant {
        Case storage c = _cases[job];
        if (c.closesAt == 0) revert NoSuchCase(job);
        if (c.resolved) revert CaseResolvedAlready(job);
        if (block.timestamp < c.closesAt) revert CaseStillOpen(job, c.closesAt);
        MeshParameters.Params memory p = params.get();
        c.resolved = true;
        if (c.tie || c.topCount < p.quorumMinAgents) {
            emit CaseDismissed(job, c.topCount, c.tie);
            return;
        }
        c.winner = c.top;
        emit CaseResolved(job, c.top, c.topCount);
        _punish(c, job, losers, p);
    }

    /// @notice Convicts more losers of a case resolved with a winner.
    function punish(bytes32 job, address[] calldata losers) external nonReentrant {
        Case storage c = _cases[job];
        if (!c.resolved) revert CaseStillOpen(job, c.closesAt);
        if (c.winner == bytes32(0)) revert NoWinner(job);
        _punish(c, job, losers, params.get());
    }

    /// @notice Two statements by one agent with different deterministic results for the same job:
    ///         convicted at once; the caller is the reporter.
    function convictSelfContradiction(bytes32 job, Vote calldata a, Vote calldata b) external nonReentrant {
        _checkOutcome(a.outcome, a.output);
        _checkOutcome(b.outcome, b.output);
        if (resultHash(a.outcome, a.output, a.fuel) == resultHash(b.outcome, b.output, b.fuel)) revert SameResult(job);
        address first = _signer(statementHash(job, a.outcome, a.output, a.fuel), a.r, a.vs);
        address second = _signer(statementHash(job, b.outcome, b.output, b.fuel), b.r, b.vs);
        if (first != second) revert DifferentSigners(first, second);
        if (_voteOf[job][first] == PUNISHED) revert AlreadyCounted(job, first);
        _voteOf[job][first] = PUNISHED;
        _convict(first, job, msg.sender, params.get());
    }

    function caseOf(bytes32 job) external view returns (Case memory) {
        return _cases[job];
    }

    /// @notice The result `account` is counted with in `job`'s case (zero: none; 1: already punished).
    function voteOf(bytes32 job, address account) external view returns (bytes32) {
        return _voteOf[job][account];
    }

    // ---- internals ---------------------------------------------------------------------------

    function _checkOutcome(uint8 outcome, bytes32 output) private pure {
        if (outcome >= FIRST_NONDETERMINISTIC) revert NonDeterministic(outcome);
        // one encoding per result: only ok results name an output
        if ((outcome == OUTCOME_OK) != (output != bytes32(0))) revert NonCanonical(outcome, output);
    }

    function _count(Case storage c, bytes32 job, Vote calldata v, uint256 minStake) private {
        _checkOutcome(v.outcome, v.output);
        address account = _signer(statementHash(job, v.outcome, v.output, v.fuel), v.r, v.vs);
        (bool eligible,) = _eligibleStake(account, minStake);
        if (!eligible) revert NotEligible(account);
        bytes32 result = resultHash(v.outcome, v.output, v.fuel);
        bytes32 prior = _voteOf[job][account];
        if (prior != bytes32(0)) {
            if (prior == result) revert AlreadyCounted(job, account);
            revert SelfContradiction(job, account);
        }
        _voteOf[job][account] = result;
        uint32 n = classCount[job][result] + 1;
        classCount[job][result] = n;
        if (n == 1) c.classes++;
        c.statements++;
        // the leader and whether it is tied, kept as counts grow by one
        if (result == c.top) {
            c.topCount = n;
            c.tie = false;
        } else if (n > c.topCount) {
            c.top = result;
            c.topCount = n;
            c.tie = false;
        } else if (n == c.topCount) {
            c.tie = true;
        }
        emit StatementCounted(job, account, result, v.outcome);
    }

    function _punish(Case storage c, bytes32 job, address[] calldata losers, MeshParameters.Params memory p) private {
        bytes32 winner = c.winner;
        address reporter = c.reporter;
        for (uint256 i = 0; i < losers.length; i++) {
            address account = losers[i];
            bytes32 v = _voteOf[job][account];
            if (v == bytes32(0) || v == winner || v == PUNISHED) revert NotALoser(job, account);
            _voteOf[job][account] = PUNISHED;
            _convict(account, job, reporter, p);
        }
    }

    function _convict(address account, bytes32 job, address reporter, MeshParameters.Params memory p) private {
        convictions[account] += 1;
        uint256 amount = _slash(account, job, reporter, p.slashFractionBps, p.reporterShareBps);
        emit Convicted(account, job, amount);
    }
}
