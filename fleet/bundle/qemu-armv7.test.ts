// Issue 10, item 2: the armv7 bundle under Debian's qemu-user-static (see test/support/bundles.ts qemuProof).
// Emulation is slow: this file takes a minute or two.
import { test as uvu } from 'uvu'
import { qemuProof } from '../../test/support/bundles.ts'
import { testNeeding } from '../../test/support/programs.ts'

qemuProof(testNeeding(uvu, 'qemu-arm-static', 'clang'), 'armv7')

uvu.run()
