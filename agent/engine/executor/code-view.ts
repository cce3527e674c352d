/**
 * The executor's code, handed over through a path its user can read.
 *
 * When the agent runs as root, the executor runs as `nobody` (process-executor.ts). Its
 * code is the agent's own checkout, which often sits where `nobody` cannot go: under
 * /root (mode 0700, the usual home of root), or cloned into a 0700 directory. Copying it
 * out would mean hundreds of megabytes (node_modules); instead the agent opens what the
 * executor needs — the checkout's `agent/`, `protocol/`, `node_modules/` and
 * `package.json`, and the node binary — and hands the open descriptors to the child at
 * fds 4, 5, ... A directory of our own in the temp dir (readable by all, writable by root
 * only) links each name to `/proc/self/fd/<n>`: in the child that is the very directory
 * or file the agent opened, whatever the modes of the directories above it. The child
 * runs with --preserve-symlinks, so Node keeps resolving its modules under the view
 * instead of back to the real path it could not reach, and execs node through its fd.
 *
 * It opens nothing that was closed below those names: file and directory modes still
 * apply to everything looked up through a descriptor, so a 0600 key or a 0700 data
 * directory stays shut to the executor, and the descriptors are read-only.
 *
 * The view's links are the same for every agent of a checkout (each child has its own
 * fds 4, 5, ...), so one view per checkout serves them all, at a path that stays the same
 * from start to start: tsx caches what it compiled by path, and a new path every time
 * would compile the executor's code again at every executor start (~1.5 s here). It is
 * used only if it is ours — a directory owned by this uid, writable by nobody else, whose
 * links are exactly these; anything else there (another user's, in a shared temp dir)
 * and a fresh one of our own is made beside it instead.
 */
import { createHash } from 'node:crypto'
import { chmodSync, closeSync, lstatSync, mkdtempSync, openSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve, sep } from 'node:path'

/** What the executor process loads, relative to the checkout. */
export const EXECUTOR_CODE: readonly string[] = ['package.json', 'agent', 'protocol', 'node_modules']
/** The first descriptor handed over: 0-2 are stdio, 3 the IPC channel. */
const FIRST_FD = 4

export interface CodeView {
  /** The directory that stands for the checkout in the child. */
  readonly root: string
  /** The node binary, as the child execs it. */
  readonly execPath: string
  /** The descriptors to pass, in order, from stdio slot 4 on. */
  readonly fds: readonly number[]
  /** `path` (a file of the checkout, or anything else) as the child sees it. */
  map(path: string): string
  /** Closes the descriptors (the view stays, for the next executor of this checkout). */
  close(): void
}

/** Where the view of `checkout` lives: one per checkout and user. */
export function viewPath(checkout: string): string {
  const id = createHash('sha256').update(`${process.getuid?.() ?? ''}:${resolve(checkout)}`).digest('hex').slice(0, 16)
  return join(tmpdir(), `fogmesh-executor-${id}`)
}

/** The links a view holds: each name to the descriptor it is handed at. */
function links(): Map<string, string> {
  return new Map(EXECUTOR_CODE.map((name, i) => [name, `/proc/self/fd/${FIRST_FD + i}`]))
}

/** Whether `dir` is a view we made: our directory, writable by us only, holding exactly our links. */
function isOurs(dir: string): boolean {
  try {
    const st = lstatSync(dir)
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) return false
    const want = links()
    const names = readdirSync(dir)
    return names.length === want.size && names.every((n) => lstatSync(join(dir, n)).isSymbolicLink() && readlinkSync(join(dir, n)) === want.get(n))
  } catch {
    return false
  }
}

/** The view directory of `checkout`: the stable one if it is ours (made now if missing), else a private one. */
function viewDir(checkout: string): string {
  const stable = viewPath(checkout)
  if (isOurs(stable)) return stable
  // made aside and renamed into place, so no agent ever sees half a view
  const fresh = mkdtempSync(`${stable}-`)
  chmodSync(fresh, 0o755)
  for (const [name, target] of links()) symlinkSync(target, join(fresh, name))
  try {
    renameSync(fresh, stable)
    return stable
  } catch {
    // another agent of this checkout was quicker (then the view is the same), or something not ours is there
    if (!isOurs(stable)) return fresh
    rmSync(fresh, { recursive: true, force: true })
    return stable
  }
}

export function openCodeView(checkout: string, execPath: string = process.execPath): CodeView {
  const fds: number[] = []
  try {
    for (const name of EXECUTOR_CODE) fds.push(openSync(join(checkout, name), 'r'))
    fds.push(openSync(execPath, 'r'))
  } catch (err) {
    for (const fd of fds) closeSync(fd)
    throw err
  }
  const root = viewDir(checkout)
  const inside = (path: string) => {
    const rel = relative(checkout, path)
    return rel !== '' && !rel.startsWith('..') && EXECUTOR_CODE.includes(rel.split(sep)[0] ?? '')
  }
  let open = true
  return {
    root,
    execPath: `/proc/self/fd/${FIRST_FD + fds.length - 1}`,
    fds,
    map: (path) => (inside(path) ? join(root, relative(checkout, path)) : path),
    close() {
      if (!open) return
      open = false
      for (const fd of fds) closeSync(fd)
      if (root !== viewPath(checkout)) rmSync(root, { recursive: true, force: true }) // a private one
    },
  }
}
