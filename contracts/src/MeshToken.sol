// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title MeshToken
/// @notice The fogmesh token for the local chain and testnets. The owner mints; holders vote on the
///         mesh's parameters (ERC20Votes: votes count once delegated, `delegate(self)` included).
///         The votes clock is the block timestamp (ERC-6372 `mode=timestamp`): edge chains and L2s
///         have irregular block times, so governance periods are in seconds.
///         AgentRegistry and PaymentChannels work with any ERC-20, not only this one.
contract MeshToken is ERC20, ERC20Permit, ERC20Votes, Ownable {
    constructor(address initialOwner)
        ERC20("fogmesh Mesh Token", "MESH")
        ERC20Permit("fogmesh Mesh Token")
        Ownable(initialOwner)
    {}

    /// @notice Mints `amount` to `to`. Only the owner (the deployer on a local chain or testnet).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice The votes clock: seconds (ERC-6372).
    function clock() public view override returns (uint48) {
        return uint48(block.timestamp);
    }

    /// @notice ERC-6372: the clock is the block timestamp.
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}
