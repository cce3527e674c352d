/** A bundle that cannot be used: one line naming the bundle (file, tree or host) and the cause. */
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

export class BundleError extends FogmeshError {
  override name = 'BundleError'
  constructor(
    /** The tarball, directory or host it is about. */
    readonly subject: string,
    readonly cause_: string,
  ) {
    super(ErrorCode.badBundle, `${subject}: ${cause_}`)
  }
}
