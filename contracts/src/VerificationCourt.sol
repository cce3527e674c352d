// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {CapacityEpochs} from "./court/CapacityEpochs.sol";
import {EvidenceCases} from "./court/EvidenceCases.sol";
import {CourtBase} from "./court/CourtBase.sol";
import {MeshParameters} from "./MeshParameters.sol";

/// @title VerificationCourt
/// @notice The AgentRegistry's slasher: slashing from signed evidence (EvidenceCases) and from
///         Proof of Capacity witnesses (CapacityEpochs), under the governed MeshParameters.
///         Deploy it, deploy the registry with this court as its `slasher`, then `bindRegistry`.
contract VerificationCourt is EvidenceCases, CapacityEpochs {
    constructor(MeshParameters params_) CourtBase(params_, "fogmesh VerificationCourt") {}
}
