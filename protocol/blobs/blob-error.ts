/**
 * Errors of content-addressed data (protocol/blobs/): one subclass, stable
 * codes from protocol/errors.ts, and the blob (`sha256`) it is about.
 */
import { FogmeshError, type ErrorCode, type FogmeshErrorOptions } from '../errors.ts'

export class BlobError extends FogmeshError {
  override name = 'BlobError'
  constructor(
    code: ErrorCode,
    /** The blob (chunk or manifest) the error is about. */
    readonly sha256: string,
    message: string,
    options: FogmeshErrorOptions = {},
  ) {
    super(code, message, options)
  }
}
