// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {AgentRegistry} from "../AgentRegistry.sol";
import {MeshParameters} from "../MeshParameters.sol";

/// @title CourtBase
/// @notice What the court's parts share: the registry it is the slasher of, the governed parameters,
///         the attester keys agents sign statements with, who may count as a witness, and slashing.
///
///         An agent's ed25519 mesh key is what the mesh verifies; the EVM verifies secp256k1 cheaply
///         (`ecrecover`, 3,000 gas, against ~1M+ for ed25519 in Solidity). So an agent binds a second
///         key, its attester, to its registry account: the attester signs an EIP-712 `Attester(account)`
///         proof of possession, the account sends it. Agents co-sign their result statements with the
///         attester (EIP-712 `Statement`), and the court recovers the signer of every statement itself:
///         nobody is trusted to say who signed what. A binding is permanent for the attester key (an
///         account may bind a new one, its old keys keep pointing at it, so rotating a key never
///         escapes a statement signed with the old one).
abstract contract CourtBase is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    uint256 internal constant BPS = 10_000;
    bytes32 public constant ATTESTER_TYPEHASH = keccak256("Attester(address account)");

    MeshParameters public immutable params;
    address private immutable _deployer;

    /// @notice The registry this court slashes for (it must name this court as its slasher).
    AgentRegistry public registry;
    IERC20 public stakeToken;
    uint256 private _registryMinStake;

    /// @notice The account each attester key signs for (permanent).
    mapping(address attester => address account) public accountOf;
    /// @notice The attester an account signs with now.
    mapping(address account => address attester) public attesterOf;
    /// @notice How many times an account was convicted of a wrong deterministic result (it leaves the market at the first).
    mapping(address account => uint32) public convictions;

    event RegistryBound(address indexed registry, address indexed stakeToken);
    event AttesterBound(address indexed account, address indexed attester);
    event Slashed(address indexed account, bytes32 indexed reason, uint256 amount, address indexed reporter, uint256 reporterShare);

    error NotDeployer(address caller);
    error RegistryAlreadyBound(address registry);
    error RegistryNotBound();
    error NotTheSlasher(address registry, address slasher);
    error NotRegistered(address account);
    error BadSignature();
    error BadAttesterProof(address attester, address recovered);
    error AttesterTaken(address attester, address account);
    error UnknownAttester(address attester);
    error NotEligible(address account);

    constructor(MeshParameters params_, string memory name_) EIP712(name_, "1") {
        params = params_;
        _deployer = msg.sender;
    }

    /// @notice One-time wiring by the deployer: the registry must already name this court as its slasher.
    function bindRegistry(AgentRegistry registry_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (address(registry) != address(0)) revert RegistryAlreadyBound(address(registry));
        if (registry_.slasher() != address(this)) revert NotTheSlasher(address(registry_), registry_.slasher());
        registry = registry_;
        stakeToken = registry_.stakeToken();
        _registryMinStake = registry_.minStake();
        emit RegistryBound(address(registry_), address(stakeToken));
    }

    /// @notice Binds `attester` to the caller's registry account; `r`/`vs` (ERC-2098) is the attester's
    ///         EIP-712 signature over `Attester(account)`.
    function bindAttester(address attester, bytes32 r, bytes32 vs) external {
        AgentRegistry reg = _registry();
        if (reg.getAgent(msg.sender).meshKey == bytes32(0)) revert NotRegistered(msg.sender);
        (address recovered, ECDSA.RecoverError err,) =
            ECDSA.tryRecover(_hashTypedDataV4(keccak256(abi.encode(ATTESTER_TYPEHASH, msg.sender))), r, vs);
        if (err != ECDSA.RecoverError.NoError || recovered != attester) revert BadAttesterProof(attester, recovered);
        address bound = accountOf[attester];
        if (bound != address(0) && bound != msg.sender) revert AttesterTaken(attester, bound);
        accountOf[attester] = msg.sender;
        attesterOf[msg.sender] = attester;
        emit AttesterBound(msg.sender, attester);
    }

    /// @notice In the market: registered, not unbonding, staked at least the governed minimum (and the
    ///         registry's own floor), never convicted.
    function isEligible(address account) public view returns (bool) {
        (bool ok,) = _eligibleStake(account, params.get().minStake);
        return ok;
    }

    struct Standing {
        bytes32 meshKey;
        uint256 stake;
        uint256 minStake;
        bool registered;
        bool unbonding;
        uint32 convictions;
        address attester;
        bool eligible;
    }

    /// @notice Everything a requester needs about one account, in one call.
    function standing(address account) external view returns (Standing memory s) {
        AgentRegistry.Agent memory a = _registry().getAgent(account);
        uint256 min = params.get().minStake;
        s.meshKey = a.meshKey;
        s.stake = a.stake;
        s.minStake = min > _registryMinStake ? min : _registryMinStake;
        s.registered = a.meshKey != bytes32(0);
        s.unbonding = a.unbondingEndsAt != 0;
        s.convictions = convictions[account];
        s.attester = attesterOf[account];
        (s.eligible,) = _eligibleStake(account, min);
    }

    /// @notice The EIP-712 domain separator agents sign under (chain id and this contract's address).
    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ---- internals ---------------------------------------------------------------------------

    function _registry() internal view returns (AgentRegistry reg) {
        reg = registry;
        if (address(reg) == address(0)) revert RegistryNotBound();
    }

    function _eligibleStake(address account, uint256 governedMin) internal view returns (bool, uint256) {
        AgentRegistry.Agent memory a = _registry().getAgent(account);
        bool ok = a.meshKey != bytes32(0) && a.unbondingEndsAt == 0 && a.stake >= governedMin
            && a.stake >= _registryMinStake && convictions[account] == 0;
        return (ok, a.stake);
    }

    /// @notice The account whose attester signed `structHash` (reverts when nobody known did).
    function _signer(bytes32 structHash, bytes32 r, bytes32 vs) internal view returns (address account) {
        (address attester, ECDSA.RecoverError err,) = ECDSA.tryRecover(_hashTypedDataV4(structHash), r, vs);
        if (err != ECDSA.RecoverError.NoError) revert BadSignature();
        account = accountOf[attester];
        if (account == address(0)) revert UnknownAttester(attester);
    }

    /// @notice Takes `fractionBps` of `account`'s stake through the registry; the reporter's share goes
    ///         to `reporter`, the rest to the parameters' owner (the timelock: the mesh's treasury).
    ///         Returns the amount (0 when the account has left the registry).
    function _slash(address account, bytes32 reason, address reporter, uint256 fractionBps, uint256 reporterShareBps)
        internal
        returns (uint256 amount)
    {
        AgentRegistry reg = _registry();
        uint256 stake = reg.getAgent(account).stake;
        amount = (stake * fractionBps) / BPS;
        uint256 share = (amount * reporterShareBps) / BPS;
        emit Slashed(account, reason, amount, reporter, share);
        if (amount == 0) return 0;
        reg.slash(account, amount, reason);
        IERC20 token = stakeToken;
        if (share != 0) token.safeTransfer(reporter, share);
        if (amount != share) token.safeTransfer(params.owner(), amount - share);
    }
}
