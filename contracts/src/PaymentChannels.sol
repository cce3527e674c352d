// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title PaymentChannels
/// @notice Unidirectional escrowed payment channels from a requester to an agent (the payee),
///         paid by cumulative EIP-712 vouchers and settled in batches.
///
/// A requester opens a channel with a deposit and an expiry. For every accepted result it signs
/// a new voucher whose `cumulativeAmount` is the total owed so far, whose `jobCount` is the
/// number of jobs paid so far and whose `resultsRoot` commits to all of those results (see
/// `resultLeaf`). The payee settles the latest voucher whenever it likes and is paid
/// `cumulativeAmount - paid`; settling is idempotent because only the increase is ever paid.
/// After the expiry the requester may start a close; during the challenge window the payee's
/// latest voucher still wins; after it the requester takes the rest back with `finalizeClose`.
///
/// One token per deployment (immutable, any ERC-20 that moves exactly the amount asked; fee-on-
/// transfer tokens are refused at deposit time).
contract PaymentChannels is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice The signed message. EIP-712 type string:
    ///         `Voucher(uint256 channelId,uint256 cumulativeAmount,bytes32 resultsRoot,uint64 jobCount)`
    struct Voucher {
        uint256 channelId;
        uint256 cumulativeAmount; // total owed on this channel since it was opened
        bytes32 resultsRoot; // Merkle root over the results of jobs 1..jobCount (see resultLeaf)
        uint64 jobCount; // number of jobs paid since the channel was opened
    }

    /// @dev Three storage slots; `settle` reads all three and writes only the last one.
    ///      Deposits are capped at 2^96 - 1 base units (79,228,162,514 tokens of 18 decimals).
    struct Channel {
        address requester; // signs the vouchers, gets the refund
        uint48 expiry; // from then on the requester may start a close
        uint48 closesAt; // 0: no close started; else the last second of the challenge window
        address payee; // the agent: settles, gets paid
        bool finalized; // refund done; nothing moves any more
        uint96 deposit; // everything ever deposited
        uint96 paid; // cumulativeAmount of the last settled voucher
        uint64 jobCount; // jobCount of the last settled voucher
    }

    bytes32 public constant VOUCHER_TYPEHASH =
        keccak256("Voucher(uint256 channelId,uint256 cumulativeAmount,bytes32 resultsRoot,uint64 jobCount)");

    IERC20 public immutable token;
    /// @notice Seconds between `startClose` and the end of the window in which the payee can still settle.
    uint48 public immutable challengePeriod;
    /// @notice Channels opened so far; channel ids are 1..channelCount.
    uint256 public channelCount;

    mapping(uint256 channelId => Channel) private _channels;

    event ChannelOpened(
        uint256 indexed channelId, address indexed requester, address indexed payee, uint256 deposit, uint48 expiry
    );
    event ChannelToppedUp(uint256 indexed channelId, uint256 amount, uint256 deposit, uint48 expiry);
    /// @notice One per settled voucher. `resultsRoot`/`jobCount` are the voucher's (cumulative);
    ///         the batch this settlement paid for is jobs `jobCount - batchJobCount + 1 .. jobCount`.
    event ChannelSettled(
        uint256 indexed channelId,
        address indexed payee,
        bytes32 indexed resultsRoot,
        uint256 amount,
        uint256 cumulativeAmount,
        uint64 jobCount,
        uint64 batchJobCount
    );
    event ChannelCloseStarted(uint256 indexed channelId, uint48 closesAt);
    event ChannelFinalized(uint256 indexed channelId, address indexed requester, uint256 refund, uint256 paid);

    error InvalidChallengePeriod();
    error InvalidPayee(address payee);
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error ExpiryNotInFuture(uint256 expiry, uint256 timestamp);
    error ExpiryDecrease(uint256 channelId, uint256 expiry, uint256 requested);
    error UnexpectedTransferAmount(uint256 expected, uint256 received);
    error ChannelNotFound(uint256 channelId);
    error NotPayee(uint256 channelId, address caller);
    error NotRequester(uint256 channelId, address caller);
    /// @notice The challenge window has passed (or the channel was finalized): no more settlements.
    error ChannelClosed(uint256 channelId, uint256 closesAt);
    /// @notice A close was started: no more top-ups, no second close.
    error ChannelClosing(uint256 channelId, uint256 closesAt);
    error ChannelNotExpired(uint256 channelId, uint256 expiry);
    error CloseNotStarted(uint256 channelId);
    error ChallengeWindowOpen(uint256 channelId, uint256 closesAt);
    error AlreadyFinalized(uint256 channelId);
    /// @notice The voucher is not newer than what was already settled (same voucher again, or a stale one).
    error NothingToSettle(uint256 channelId, uint256 cumulativeAmount, uint256 alreadyPaid);
    error VoucherExceedsDeposit(uint256 channelId, uint256 cumulativeAmount, uint256 deposit);
    error JobCountDecreased(uint256 channelId, uint64 jobCount, uint64 settledJobCount);
    error InvalidVoucherSigner(uint256 channelId, address signer, address requester);
    error LengthMismatch(uint256 vouchers, uint256 signatures);
    error EmptyBatch();

    constructor(IERC20 token_, uint48 challengePeriod_) EIP712("fogmesh PaymentChannels", "1") {
        if (challengePeriod_ == 0) revert InvalidChallengePeriod();
        token = token_;
        challengePeriod = challengePeriod_;
    }

    // ---- requester ---------------------------------------------------------------------------

    /// @notice Opens a channel to `payee` with `amount` pulled from the caller (approve first).
    function open(address payee, uint256 amount, uint48 expiry) external nonReentrant returns (uint256 channelId) {
        if (payee == address(0)) revert InvalidPayee(payee);
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        if (expiry <= block.timestamp) revert ExpiryNotInFuture(expiry, block.timestamp);

        channelId = ++channelCount;
        Channel storage c = _channels[channelId];
        c.requester = msg.sender;
        c.expiry = expiry;
        c.payee = payee;
        c.deposit = uint96(amount);
        emit ChannelOpened(channelId, msg.sender, payee, amount, expiry);

        _pull(msg.sender, amount);
    }

    /// @notice Adds `amount` to the deposit and/or moves the expiry later (`newExpiry` 0 keeps it).
    function topUp(uint256 channelId, uint256 amount, uint48 newExpiry) external nonReentrant {
        Channel storage c = _existing(channelId);
        if (c.requester != msg.sender) revert NotRequester(channelId, msg.sender);
        if (c.finalized) revert AlreadyFinalized(channelId);
        if (c.closesAt != 0) revert ChannelClosing(channelId, c.closesAt);
        uint48 expiry = c.expiry;
        if (newExpiry != 0) {
            if (newExpiry < expiry) revert ExpiryDecrease(channelId, expiry, newExpiry);
            expiry = newExpiry;
        }
        if (amount == 0 && expiry == c.expiry) revert ZeroAmount();
        uint256 deposit = uint256(c.deposit) + amount;
        if (deposit > type(uint96).max) revert AmountTooLarge(deposit);

        c.deposit = uint96(deposit);
        c.expiry = expiry;
        emit ChannelToppedUp(channelId, amount, deposit, expiry);

        if (amount != 0) _pull(msg.sender, amount);
    }

    /// @notice Starts the challenge window; only the requester, only from the expiry on.
    function startClose(uint256 channelId) external {
        Channel storage c = _existing(channelId);
        if (c.requester != msg.sender) revert NotRequester(channelId, msg.sender);
        if (c.closesAt != 0) revert ChannelClosing(channelId, c.closesAt);
        if (block.timestamp < c.expiry) revert ChannelNotExpired(channelId, c.expiry);

        uint48 closesAt = uint48(block.timestamp) + challengePeriod;
        c.closesAt = closesAt;
        emit ChannelCloseStarted(channelId, closesAt);
    }

    /// @notice After the challenge window: refunds `deposit - paid` to the requester; the channel is done.
    function finalizeClose(uint256 channelId) external nonReentrant returns (uint256 refund) {
        Channel storage c = _existing(channelId);
        address requester = c.requester;
        if (requester != msg.sender) revert NotRequester(channelId, msg.sender);
        if (c.finalized) revert AlreadyFinalized(channelId);
        uint48 closesAt = c.closesAt;
        if (closesAt == 0) revert CloseNotStarted(channelId);
        if (block.timestamp <= closesAt) revert ChallengeWindowOpen(channelId, closesAt);

        c.finalized = true;
        uint256 paid = c.paid;
        refund = uint256(c.deposit) - paid;
        emit ChannelFinalized(channelId, requester, refund, paid);

        if (refund != 0) token.safeTransfer(requester, refund);
    }

    // ---- payee -------------------------------------------------------------------------------

    /// @notice Settles one voucher; pays `cumulativeAmount - paid` to the payee (the caller).
    function settle(Voucher calldata voucher, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 amount)
    {
        amount = _settle(voucher, signature);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Settles many channels of the same payee (the caller) in one transaction, with one
    ///         token transfer for the sum. All or nothing: any invalid voucher reverts the batch.
    function settleMany(Voucher[] calldata vouchers, bytes[] calldata signatures)
        external
        nonReentrant
        returns (uint256 total)
    {
        uint256 n = vouchers.length;
        if (n != signatures.length) revert LengthMismatch(n, signatures.length);
        if (n == 0) revert EmptyBatch();
        for (uint256 i = 0; i < n; ++i) {
            total += _settle(vouchers[i], signatures[i]);
        }
        token.safeTransfer(msg.sender, total);
    }

    // ---- views -------------------------------------------------------------------------------

    function getChannel(uint256 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The EIP-712 digest the requester signs for `voucher`.
    function hashVoucher(Voucher calldata voucher) external view returns (bytes32) {
        return _voucherDigest(voucher);
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The Merkle leaf of one result:
    ///         `keccak256(bytes.concat(keccak256(abi.encode(jobIdHash, outputSha256, fuel))))`,
    ///         double-hashed as OpenZeppelin's MerkleProof recommends (a leaf can never be an inner node).
    function resultLeaf(bytes32 jobIdHash, bytes32 outputSha256, uint64 fuel) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(jobIdHash, outputSha256, fuel))));
    }

    /// @notice True when `leaf` is in the tree of `root` (a root from a `ChannelSettled` event).
    function verifyResult(bytes32 root, bytes32[] calldata proof, bytes32 leaf) external pure returns (bool) {
        return MerkleProof.verifyCalldata(proof, root, leaf);
    }

    // ---- internals ---------------------------------------------------------------------------

    /// @dev Checks and effects of one settlement (no transfer: the caller pays the sum).
    ///      Order: the cheap storage checks first, the signature last.
    function _settle(Voucher calldata v, bytes calldata signature) private returns (uint256 amount) {
        uint256 channelId = v.channelId;
        Channel storage c = _channels[channelId];
        address payee = c.payee;
        if (payee == address(0)) revert ChannelNotFound(channelId);
        if (payee != msg.sender) revert NotPayee(channelId, msg.sender);
        uint48 closesAt = c.closesAt;
        if (closesAt != 0 && block.timestamp > closesAt) revert ChannelClosed(channelId, closesAt);
        uint256 paid = c.paid;
        uint256 deposit = c.deposit;
        uint64 settledJobs = c.jobCount;
        uint256 cumulative = v.cumulativeAmount;
        uint64 jobCount = v.jobCount;
        if (cumulative <= paid) revert NothingToSettle(channelId, cumulative, paid);
        if (cumulative > deposit) revert VoucherExceedsDeposit(channelId, cumulative, deposit);
        if (jobCount < settledJobs) revert JobCountDecreased(channelId, jobCount, settledJobs);
        address requester = c.requester;
        address signer = _recoverSigner(_voucherDigest(v), signature);
        if (signer != requester) revert InvalidVoucherSigner(channelId, signer, requester);

        c.paid = uint96(cumulative); // <= deposit < 2^96
        c.jobCount = jobCount;
        amount = cumulative - paid;
        emit ChannelSettled(channelId, payee, v.resultsRoot, amount, cumulative, jobCount, jobCount - settledJobs);
    }

    function _voucherDigest(Voucher calldata v) internal view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(VOUCHER_TYPEHASH, v.channelId, v.cumulativeAmount, v.resultsRoot, v.jobCount))
        );
    }

    /// @dev OpenZeppelin 5 `ECDSA.recoverCalldata`: 65-byte signatures only (ERC-2098 64-byte
    ///      compact ones revert with ECDSAInvalidSignatureLength(64)), high-s reverts with
    ///      ECDSAInvalidSignatureS, an unrecoverable one with ECDSAInvalidSignature. Virtual only so
    ///      a test harness can accept compact signatures to show that settlement stays idempotent.
    function _recoverSigner(bytes32 digest, bytes calldata signature) internal view virtual returns (address) {
        return ECDSA.recoverCalldata(digest, signature);
    }

    function _existing(uint256 channelId) private view returns (Channel storage c) {
        c = _channels[channelId];
        if (c.payee == address(0)) revert ChannelNotFound(channelId);
    }

    /// @dev Pulls exactly `amount` from `from`; refuses tokens that deliver something else.
    function _pull(address from, uint256 amount) private {
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(from, address(this), amount);
        uint256 after_ = token.balanceOf(address(this));
        if (after_ < before || after_ - before != amount) {
            revert UnexpectedTransferAmount(amount, after_ < before ? 0 : after_ - before);
        }
    }
}
