/**
 * The files of the A/B switch under one root (the install prefix, /opt/fogmesh on a
 * device), shared by the agent (agent/update/updater.ts) and the supervisor
 * (files/fogmesh-supervise.sh) — the supervisor's header comment describes the same:
 *
 * ```
 * releases/<version>-<arch>/  unpacked bundles; the current and the previous one are kept
 * current -> releases/…       what the supervisor starts; moved only after a healthy trial
 * previous -> releases/…      what ran before the last update
 * update/staging/             downloads and unpacking in progress
 * update/pending              agent → supervisor: "releases/<dir>" is staged, try it (then exit 75)
 * update/trial                supervisor: "releases/<dir> <deadline, epoch s>" while a trial runs
 * update/healthy              trial agent → supervisor: online and the self-test passed
 * update/last.json            the last update's outcome (presence's `update`)
 * update/failed               versions that rolled back, one a line: never tried again
 * ```
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { updateStatusSchema, type UpdateStatus } from '../../protocol/messages.ts'

/** The exit code with which an agent asks its supervisor to start the staged release (EX_TEMPFAIL). */
export const EXIT_UPDATE = 75

export class UpdateLayout {
  constructor(readonly root: string) {}

  get releases(): string {
    return join(this.root, 'releases')
  }
  get dir(): string {
    return join(this.root, 'update')
  }
  get staging(): string {
    return join(this.dir, 'staging')
  }
  file(name: 'pending' | 'trial' | 'healthy' | 'last.json' | 'failed'): string {
    return join(this.dir, name)
  }

  /** The release directory name for a version and arch. */
  static releaseDir(version: string, arch: string): string {
    return `${version}-${arch}`
  }

  /** `releases/<dir>` that `current` points at, if any. */
  current(): string | undefined {
    try {
      return readlinkSync(join(this.root, 'current'))
    } catch {
      return undefined
    }
  }

  ensure(): void {
    mkdirSync(this.staging, { recursive: true })
    mkdirSync(this.releases, { recursive: true })
  }

  lastOutcome(): UpdateStatus | undefined {
    try {
      return updateStatusSchema(JSON.parse(readFileSync(this.file('last.json'), 'utf8')), 'last.json')
    } catch {
      return undefined
    }
  }

  writeOutcome(s: UpdateStatus): void {
    this.writeAtomic('last.json', JSON.stringify(s) + '\n')
  }

  failedVersions(): Set<string> {
    try {
      return new Set(readFileSync(this.file('failed'), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean))
    } catch {
      return new Set()
    }
  }

  /** Asks the supervisor to try `releases/<dir>` (the agent exits with EXIT_UPDATE next). */
  writePending(dir: string): void {
    this.writeAtomic('pending', `releases/${dir}\n`)
  }

  /** The trial the supervisor runs now: the release dir, if this process is in one. */
  trial(): { dir: string; deadline: number } | undefined {
    if (!existsSync(this.file('trial'))) return undefined
    const [dir, deadline] = readFileSync(this.file('trial'), 'utf8').trim().split(/\s+/)
    return dir ? { dir, deadline: Number(deadline) } : undefined
  }

  markHealthy(version: string): void {
    this.writeAtomic('healthy', `${version}\n`)
  }

  private writeAtomic(name: 'pending' | 'healthy' | 'last.json', text: string): void {
    mkdirSync(this.dir, { recursive: true })
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`)
    writeFileSync(tmp, text)
    renameSync(tmp, join(this.dir, name))
  }
}

/** Bundle arch names (docs/bundle.md) for Node's `process.arch`. */
export function bundleArch(nodeArch: string): string {
  return nodeArch === 'arm' ? 'armv7' : nodeArch
}
