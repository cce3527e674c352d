// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {PaymentChannels} from "../PaymentChannels.sol";

/// @title CompactSigChannels (tests only)
/// @notice PaymentChannels that ALSO accepts ERC-2098 64-byte compact signatures (r, yParityAndS),
///         i.e. two encodings of every voucher signature are valid here. The tests use it to show
///         that this would still not pay a voucher twice: settlement is keyed on the voucher's
///         cumulative amount, not on the signature bytes.
contract CompactSigChannels is PaymentChannels {
    constructor(IERC20 token_, uint48 challengePeriod_) PaymentChannels(token_, challengePeriod_) {}

    function _recoverSigner(bytes32 digest, bytes calldata signature) internal view override returns (address) {
        if (signature.length == 64) {
            (bytes32 r, bytes32 vs) = abi.decode(signature, (bytes32, bytes32));
            return ECDSA.recover(digest, r, vs);
        }
        return super._recoverSigner(digest, signature);
    }
}
