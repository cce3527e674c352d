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
 */
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, sep } from 'node:path'

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
  /** Closes the descriptors and removes the view. */
  close(): void
}

/** Opens a view of the checkout at `checkout` (see the file comment). Throws if something in EXECUTOR_CODE cannot be opened. */
export function openCodeView(checkout: string, execPath: string = process.execPath): CodeView {
  const root = mkdtempSync(join(tmpdir(), 'fogmesh-executor-'))
  const fds: number[] = []
  try {
    chmodSync(root, 0o755)
    for (const name of EXECUTOR_CODE) {
      fds.push(openSync(join(checkout, name), 'r'))
      symlinkSync(`/proc/self/fd/${FIRST_FD + fds.length - 1}`, join(root, name))
    }
    fds.push(openSync(execPath, 'r'))
  } catch (err) {
    for (const fd of fds) closeSync(fd)
    rmSync(root, { recursive: true, force: true })
    throw err
  }
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
      rmSync(root, { recursive: true, force: true })
    },
  }
}
