/**
 * External programs the tests need (Mosquitto, mosquitto_pub, ...), and the
 * rule for them: under CI a missing one fails the test; elsewhere the tests
 * that need it are skipped with the reason (as `useChain` does for anvil).
 */
import { accessSync, constants } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'uvu'

const DIRS = ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']

/** The path of an installed program, or undefined. */
export function findProgram(name: string): string | undefined {
  for (const dir of DIRS) {
    try {
      accessSync(join(dir, name), constants.X_OK)
      return join(dir, name)
    } catch {
      // not in this one
    }
  }
  return undefined
}

/** The path of a program the tests cannot do without; throws (naming the package line to fix) when it is missing. */
export function requireProgram(name: string): string {
  const bin = findProgram(name)
  if (!bin) throw new Error(`${name} is required but is not installed (apt-get install it; CI does in .ci/run)`)
  return bin
}

/**
 * `test` itself when every program in `names` is installed or CI is set (then a missing
 * one fails the test through `requireProgram`); otherwise a `test.skip` that names what
 * is missing, so the tests count as skipped, never as passed.
 */
export function testNeeding(test: Test, ...names: string[]): Test {
  const missing = names.filter((n) => !findProgram(n))
  return testUnless(test, missing.length ? `${missing.join(', ')} not installed` : undefined)
}

/**
 * `test` itself when `missing` is undefined (the component is there) or CI is set (then the
 * test must fail on its own when it reaches for the component); otherwise a `test.skip`,
 * with `missing` printed once as the reason.
 */
export function testUnless(test: Test, missing: string | undefined): Test {
  if (missing === undefined || process.env.CI) return test
  console.log(`skipping tests: ${missing} (and CI not set)`)
  const skip = () => test.skip() // uvu counts it as skipped (it prints no names; the reason is printed above)
  return Object.assign(skip, { ...test, only: skip, skip }) as unknown as Test
}
