// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title MeshTimelock
/// @notice OpenZeppelin's TimelockController as it is: it owns MeshParameters and executes what the
///         MeshGovernor passed, after `minDelay` seconds. (A named contract so the build has its artifact.)
contract MeshTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}
