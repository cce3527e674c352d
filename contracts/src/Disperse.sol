// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Disperse
/// @notice Baseline for the settlement benchmark only: the batch-transfer pattern of disperse.app
///         (`disperseTokenSimple`): one transaction, one `transferFrom(sender -> recipient)` per
///         payment. Not used by fogmesh itself.
contract Disperse {
    using SafeERC20 for IERC20;

    error LengthMismatch(uint256 recipients, uint256 values);

    function disperseToken(IERC20 token, address[] calldata recipients, uint256[] calldata values) external {
        if (recipients.length != values.length) revert LengthMismatch(recipients.length, values.length);
        for (uint256 i = 0; i < recipients.length; ++i) {
            token.safeTransferFrom(msg.sender, recipients[i], values[i]);
        }
    }
}
