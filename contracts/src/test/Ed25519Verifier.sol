// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Ed25519Verifier (test only: a measurement, not used by the mesh)
/// @notice ed25519 (RFC 8032) signature verification in plain Solidity, to measure what the court
///         would pay per statement if it checked the agents' ed25519 mesh keys directly instead of
///         a secp256k1 attester through `ecrecover`: SHA-512 over R || A || M, point decompression
///         (a square root by exponentiation), and [S]B = R + [h]A by a double-scalar
///         multiplication in extended twisted Edwards coordinates, all with mulmod/addmod over
///         2^255 - 19. Straightforward, not hand-optimized.
contract Ed25519Verifier {
    uint256 private constant P = 0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed;
    uint256 private constant L = 0x1000000000000000000000000000000014def9dea2f79cd65812631a5cf5d3ed;
    uint256 private constant D = 37095705934669439343138083508754565189542113879843219016388785533085940283555;
    uint256 private constant D2 = 16295367250680780974490674513165176452449235426866156013048779062215315747161;
    uint256 private constant BX = 15112221349535400772501151409588531511454012693041857206046113283949847762202;
    uint256 private constant BY = 46316835694926478169428394003475163141307993866256225615783033603165251855960;
    /// sqrt(-1) mod P
    uint256 private constant I = 19681161376707505956807079304988542015446066515923890162744021073123829784752;

    bytes private constant K512 = hex"428a2f98d728ae227137449123ef65cdb5c0fbcfec4d3b2fe9b5dba58189dbbc3956c25bf348b53859f111f1b605d019923f82a4af194f9bab1c5ed5da6d8118d807aa98a303024212835b0145706fbe243185be4ee4b28c550c7dc3d5ffb4e272be5d74f27b896f80deb1fe3b1696b19bdc06a725c71235c19bf174cf692694e49b69c19ef14ad2efbe4786384f25e30fc19dc68b8cd5b5240ca1cc77ac9c652de92c6f592b02754a7484aa6ea6e4835cb0a9dcbd41fbd476f988da831153b5983e5152ee66dfaba831c66d2db43210b00327c898fb213fbf597fc7beef0ee4c6e00bf33da88fc2d5a79147930aa72506ca6351e003826f142929670a0e6e7027b70a8546d22ffc2e1b21385c26c9264d2c6dfc5ac42aed53380d139d95b3df650a73548baf63de766a0abb3c77b2a881c2c92e47edaee692722c851482353ba2bfe8a14cf10364a81a664bbc423001c24b8b70d0f89791c76c51a30654be30d192e819d6ef5218d69906245565a910f40e35855771202a106aa07032bbd1b819a4c116b8d2d0c81e376c085141ab532748774cdf8eeb9934b0bcb5e19b48a8391c0cb3c5c95a634ed8aa4ae3418acb5b9cca4f7763e373682e6ff3d6b2b8a3748f82ee5defb2fc78a5636f43172f6084c87814a1f0ab728cc702081a6439ec90befffa23631e28a4506cebde82bde9bef9a3f7b2c67915c67178f2e372532bca273eceea26619cd186b8c721c0c207eada7dd6cde0eb1ef57d4f7fee6ed17806f067aa72176fba0a637dc5a2c898a6113f9804bef90dae1b710b35131c471b28db77f523047d8432caab7b40c724933c9ebe0a15c9bebc431d67c49c100d4c4cc5d4becb3e42b6597f299cfc657e2a5fcb6fab3ad6faec6c44198c4a475817";

    /// @notice Gas-measurable: a transaction calls this and stores the outcome.
    bool public last;

    function verifyAndRecord(bytes32 publicKey, bytes32 r, bytes32 s, bytes calldata message) external returns (bool ok) {
        ok = verify(publicKey, r, s, message);
        last = ok;
    }

    function verify(bytes32 publicKey, bytes32 r, bytes32 s, bytes calldata message) public pure returns (bool) {
        uint256 sc = _le(s);
        if (sc >= L) return false;
        (bool okA, uint256 ax, uint256 ay) = _decompress(publicKey);
        if (!okA) return false;
        uint256 h = _reduce512(_sha512(abi.encodePacked(r, publicKey, message)));
        // [S]B + [h](-A) must be R
        (uint256 x, uint256 y) = _doubleMul(sc, h, P - ax, ay);
        return _compress(x, y) == r;
    }

    // ---- field and curve -----------------------------------------------------------------

    function _pow(uint256 b, uint256 e) private pure returns (uint256 r) {
        r = 1;
        while (e != 0) {
            if (e & 1 == 1) r = mulmod(r, b, P);
            b = mulmod(b, b, P);
            e >>= 1;
        }
    }

    function _inv(uint256 a) private pure returns (uint256) {
        return _pow(a, P - 2);
    }

    /// little-endian 32 bytes -> integer
    function _le(bytes32 v) private pure returns (uint256 r) {
        uint256 x = uint256(v);
        for (uint256 i = 0; i < 32; i++) {
            r = (r << 8) | (x & 0xff);
            x >>= 8;
        }
    }

    function _decompress(bytes32 enc) private pure returns (bool, uint256, uint256) {
        uint256 v = _le(enc);
        uint256 sign = v >> 255;
        uint256 y = v & ((1 << 255) - 1);
        if (y >= P) return (false, 0, 0);
        uint256 yy = mulmod(y, y, P);
        uint256 u = addmod(yy, P - 1, P);
        uint256 w = addmod(mulmod(D, yy, P), 1, P);
        // x = u w^3 (u w^7)^((P-5)/8)
        uint256 w3 = mulmod(mulmod(w, w, P), w, P);
        uint256 w7 = mulmod(mulmod(w3, w3, P), w, P);
        uint256 x = mulmod(mulmod(u, w3, P), _pow(mulmod(u, w7, P), (P - 5) / 8), P);
        uint256 wxx = mulmod(w, mulmod(x, x, P), P);
        if (wxx != u) {
            if (wxx != P - u) return (false, 0, 0);
            x = mulmod(x, I, P);
        }
        if (x == 0 && sign == 1) return (false, 0, 0);
        if (x & 1 != sign) x = P - x;
        return (true, x, y);
    }

    function _compress(uint256 x, uint256 y) private pure returns (bytes32) {
        uint256 v = y | ((x & 1) << 255);
        return bytes32(_le(bytes32(v)));
    }

    struct Pt {
        uint256 x;
        uint256 y;
        uint256 z;
        uint256 t;
    }

    /// unified addition on -x^2 + y^2 = 1 + d x^2 y^2 (extended coordinates, also doubles)
    function _add(Pt memory p1, Pt memory p2) private pure returns (Pt memory r) {
        uint256 a = mulmod(addmod(p1.y, P - p1.x, P), addmod(p2.y, P - p2.x, P), P);
        uint256 b = mulmod(addmod(p1.y, p1.x, P), addmod(p2.y, p2.x, P), P);
        uint256 c = mulmod(mulmod(p1.t, D2, P), p2.t, P);
        uint256 d = mulmod(addmod(p1.z, p1.z, P), p2.z, P);
        uint256 e = addmod(b, P - a, P);
        uint256 f = addmod(d, P - c, P);
        uint256 g = addmod(d, c, P);
        uint256 h = addmod(b, a, P);
        r.x = mulmod(e, f, P);
        r.y = mulmod(g, h, P);
        r.t = mulmod(e, h, P);
        r.z = mulmod(f, g, P);
    }

    /// [s]B + [h](qx, qy), affine result
    function _doubleMul(uint256 s, uint256 h, uint256 qx, uint256 qy) private pure returns (uint256, uint256) {
        Pt memory b = Pt(BX, BY, 1, mulmod(BX, BY, P));
        Pt memory q = Pt(qx, qy, 1, mulmod(qx, qy, P));
        Pt memory bq = _add(b, q);
        Pt memory acc = Pt(0, 1, 1, 0);
        for (uint256 i = 256; i > 0; i--) {
            acc = _add(acc, acc);
            uint256 bit = ((s >> (i - 1)) & 1) | (((h >> (i - 1)) & 1) << 1);
            if (bit == 1) acc = _add(acc, b);
            else if (bit == 2) acc = _add(acc, q);
            else if (bit == 3) acc = _add(acc, bq);
        }
        uint256 zi = _inv(acc.z);
        return (mulmod(acc.x, zi, P), mulmod(acc.y, zi, P));
    }

    /// the 64-byte SHA-512 digest read little-endian, reduced mod L
    function _reduce512(bytes memory digest) private pure returns (uint256) {
        uint256 lo;
        uint256 hi;
        for (uint256 i = 0; i < 32; i++) {
            lo |= uint256(uint8(digest[i])) << (8 * i);
            hi |= uint256(uint8(digest[32 + i])) << (8 * i);
        }
        // hi * 2^256 + lo mod L, with 2^256 mod L precomputed by mulmod
        uint256 twoTo256ModL = addmod(mulmod(type(uint256).max, 1, L), 1, L);
        return addmod(mulmod(hi, twoTo256ModL, L), lo % L, L);
    }

    // ---- SHA-512 (FIPS 180-4) --------------------------------------------------------------

    function _rotr(uint64 x, uint64 n) private pure returns (uint64) {
        unchecked {
            return (x >> n) | (x << (64 - n));
        }
    }

    function _k(uint256 i) private pure returns (uint64 v) {
        bytes memory k = K512;
        assembly ("memory-safe") {
            v := shr(192, mload(add(add(k, 32), mul(i, 8))))
        }
    }

    function _schedule(bytes memory padded, uint256 off) private pure returns (uint64[80] memory w) {
        unchecked {
            for (uint256 t = 0; t < 16; t++) {
                uint64 word;
                for (uint256 j = 0; j < 8; j++) word = (word << 8) | uint64(uint8(padded[off + t * 8 + j]));
                w[t] = word;
            }
            for (uint256 t = 16; t < 80; t++) {
                uint64 s0 = _rotr(w[t - 15], 1) ^ _rotr(w[t - 15], 8) ^ (w[t - 15] >> 7);
                uint64 s1 = _rotr(w[t - 2], 19) ^ _rotr(w[t - 2], 61) ^ (w[t - 2] >> 6);
                w[t] = w[t - 16] + s0 + w[t - 7] + s1;
            }
        }
    }

    function _t1(uint64 e, uint64 f, uint64 g, uint64 h, uint64 kw) private pure returns (uint64) {
        unchecked {
            return h + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g)) + kw;
        }
    }

    function _t2(uint64 a, uint64 b, uint64 c) private pure returns (uint64) {
        unchecked {
            return (_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        }
    }

    function _block(uint64[8] memory hs, bytes memory padded, uint256 off) private pure {
        uint64[80] memory w = _schedule(padded, off);
        uint64[8] memory v = [hs[0], hs[1], hs[2], hs[3], hs[4], hs[5], hs[6], hs[7]];
        unchecked {
            for (uint256 t = 0; t < 80; t++) {
                uint64 t1 = _t1(v[4], v[5], v[6], v[7], _k(t) + w[t]);
                uint64 t2 = _t2(v[0], v[1], v[2]);
                v[7] = v[6];
                v[6] = v[5];
                v[5] = v[4];
                v[4] = v[3] + t1;
                v[3] = v[2];
                v[2] = v[1];
                v[1] = v[0];
                v[0] = t1 + t2;
            }
            for (uint256 i = 0; i < 8; i++) hs[i] += v[i];
        }
    }

    function _sha512(bytes memory m) private pure returns (bytes memory) {
        uint64[8] memory hs = [
            uint64(0x6a09e667f3bcc908), uint64(0xbb67ae8584caa73b), uint64(0x3c6ef372fe94f82b), uint64(0xa54ff53a5f1d36f1), uint64(0x510e527fade682d1), uint64(0x9b05688c2b3e6c1f), uint64(0x1f83d9abfb41bd6b), uint64(0x5be0cd19137e2179)
        ];
        uint256 len = m.length;
        uint256 blocks = (len + 17 + 127) / 128;
        bytes memory padded = new bytes(blocks * 128);
        for (uint256 i = 0; i < len; i++) padded[i] = m[i];
        padded[len] = 0x80;
        uint256 bits = len * 8;
        for (uint256 i = 0; i < 8; i++) padded[blocks * 128 - 1 - i] = bytes1(uint8(bits >> (8 * i)));
        for (uint256 blk = 0; blk < blocks; blk++) _block(hs, padded, blk * 128);
        return abi.encodePacked(hs[0], hs[1], hs[2], hs[3], hs[4], hs[5], hs[6], hs[7]);
    }
}
