/**
 * Release versions: `MAJOR.MINOR.PATCH` with an optional `-prerelease`
 * (semver's precedence: numeric parts compared as numbers, a prerelease
 * before its release, prerelease identifiers numerically or lexically).
 */
const VERSION = /^(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:-([0-9A-Za-z.-]{1,32}))?$/

export function isReleaseVersion(v: string): boolean {
  return VERSION.test(v)
}

/** < 0 when `a` is older than `b`, 0 when equal, > 0 when newer. Throws on a version that is not one. */
export function compareVersions(a: string, b: string): number {
  const ma = VERSION.exec(a)
  const mb = VERSION.exec(b)
  if (!ma || !mb) throw new RangeError(`not a release version: ${!ma ? a : b}`)
  for (let i = 1; i <= 3; i++) {
    const d = Number(ma[i]) - Number(mb[i])
    if (d !== 0) return d
  }
  const pa = ma[4]
  const pb = mb[4]
  if (pa === undefined || pb === undefined) return pa === pb ? 0 : pa === undefined ? 1 : -1
  const xa = pa.split('.')
  const xb = pb.split('.')
  for (let i = 0; i < Math.max(xa.length, xb.length); i++) {
    const x = xa[i]
    const y = xb[i]
    if (x === undefined) return -1
    if (y === undefined) return 1
    const nx = /^\d+$/.test(x)
    const ny = /^\d+$/.test(y)
    if (nx && ny && Number(x) !== Number(y)) return Number(x) - Number(y)
    if (nx !== ny) return nx ? -1 : 1
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}
