/**
 * Who the executor process runs as, and how it gets there.
 *
 * - The agent is root: Node's own `uid`/`gid` spawn options (setgroups, setgid,
 *   setuid before exec; a root → non-root change clears every capability).
 * - The agent is an unprivileged service user holding only CAP_SETUID and
 *   CAP_SETGID (the systemd unit gives it those as ambient capabilities): Node's
 *   options would switch the uid but leave the ambient capabilities to the
 *   executor (a non-root → non-root change keeps them). So the executor is
 *   started through util-linux `setpriv`, which switches uid, gid and groups
 *   and clears the inheritable and ambient sets before it execs Node: the
 *   executor ends with no capabilities at all.
 */
import { accessSync, constants, readFileSync } from 'node:fs'
import { ErrorCode, FogmeshError } from '../../../protocol/errors.ts'

export interface OsUser {
  uid: number
  gid: number
}

const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv']

/** `name` from /etc/passwd, or `uid:gid` / `uid` given as numbers. */
export function resolveOsUser(spec: string, passwd = '/etc/passwd'): OsUser {
  const numeric = /^(\d+)(?::(\d+))?$/.exec(spec)
  if (numeric) {
    const uid = Number(numeric[1])
    return { uid, gid: numeric[2] !== undefined ? Number(numeric[2]) : uid }
  }
  let text: string
  try {
    text = readFileSync(passwd, 'utf8')
  } catch (err) {
    throw new FogmeshError(ErrorCode.usage, `cannot read ${passwd} to find user "${spec}"`, { cause: err })
  }
  for (const line of text.split('\n')) {
    const f = line.split(':')
    if (f[0] === spec && f.length >= 4) return { uid: Number(f[2]), gid: Number(f[3]) }
  }
  throw new FogmeshError(ErrorCode.usage, `executor user "${spec}" does not exist (create it: useradd --system --no-create-home ${spec})`)
}

export function findSetpriv(): string | undefined {
  for (const p of SETPRIV_PATHS) {
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // not here
    }
  }
  return undefined
}

/**
 * The command that starts `node ...args` as `user`: through setpriv when this
 * process is not root, else undefined (use Node's uid/gid spawn options).
 */
export function setprivPrefix(user: OsUser): string[] | undefined {
  if (process.getuid?.() === 0) return undefined
  const setpriv = findSetpriv()
  if (!setpriv) throw new FogmeshError(ErrorCode.usage, 'running the executor as another user needs util-linux setpriv (apt-get install util-linux)')
  return [setpriv, `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all', '--']
}
