// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title MeshToken
/// @notice The fogmesh token for the local chain and testnets. The owner mints; nothing else is
///         special. AgentRegistry and PaymentChannels work with any ERC-20, not only this one.
contract MeshToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("fogmesh Mesh Token", "MESH") Ownable(initialOwner) {}

    /// @notice Mints `amount` to `to`. Only the owner (the deployer on a local chain or testnet).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
