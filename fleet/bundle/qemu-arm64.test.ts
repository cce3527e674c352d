// Issue 10, item 2: the arm64 bundle under Debian's qemu-user-static (see test/support/bundles.ts qemuProof).
// Emulation is slow: this file takes a minute or two.
import { test as uvu } from 'uvu'
import { qemuProof } from '../../test/support/bundles.ts'
import { testNeeding } from '../../test/support/programs.ts'

qemuProof(testNeeding(uvu, 'qemu-aarch64-static', 'clang'), 'arm64')

uvu.run()
