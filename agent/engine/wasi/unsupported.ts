/**
 * The preview1 functions a job may link but never gets to use: files,
 * directories, seeking, polling and sockets. A job has only stdin, stdout and
 * stderr, which are non-seekable character streams, and no preopened
 * directories. Each function answers with the errno a POSIX system gives for
 * that call on such a stream (or EBADF for a descriptor that is not open), so
 * libc reports a normal error instead of the module failing to link.
 */
import { Errno } from './abi.ts'
import type { WasiFunctionName } from './abi.ts'

/** What the refusals need from the host. */
export interface StreamTable {
  /** Throws the stop sentinel again if the run already ended (see WasiHost). */
  guard(): void
  /** Whether `fd` (unsigned) is one of the open std streams. */
  isOpen(fd: number): boolean
}

type Refusal = (...args: never[]) => number

/** `onStream` for an open std stream, EBADF for anything else. */
function onFd(table: StreamTable, fd: number, onStream: number): number {
  table.guard()
  return table.isOpen(fd >>> 0) ? onStream : Errno.badf
}

/**
 * Path calls are relative to a directory descriptor. There are no directories:
 * a std stream lacks the path rights (ENOTCAPABLE), any other fd is not open (EBADF).
 */
function onDirFds(table: StreamTable, a: number, b: number = a): number {
  table.guard()
  if (!table.isOpen(a >>> 0) || !table.isOpen(b >>> 0)) return Errno.badf
  return Errno.notcapable
}

function onSocket(table: StreamTable): number {
  table.guard()
  return Errno.nosys
}

export function unsupportedFunctions(t: StreamTable) {
  return {
    // fadvise / fallocate / pread / pwrite / lseek on a pipe: ESPIPE
    fd_advise: (fd: number) => onFd(t, fd, Errno.spipe),
    fd_allocate: (fd: number) => onFd(t, fd, Errno.spipe),
    fd_pread: (fd: number) => onFd(t, fd, Errno.spipe),
    fd_pwrite: (fd: number) => onFd(t, fd, Errno.spipe),
    fd_seek: (fd: number) => onFd(t, fd, Errno.spipe),
    fd_tell: (fd: number) => onFd(t, fd, Errno.spipe),
    // fsync / fdatasync / ftruncate on a character stream: EINVAL
    fd_datasync: (fd: number) => onFd(t, fd, Errno.inval),
    fd_sync: (fd: number) => onFd(t, fd, Errno.inval),
    fd_filestat_set_size: (fd: number) => onFd(t, fd, Errno.inval),
    // the std streams are not granted fd_filestat_set_times
    fd_filestat_set_times: (fd: number) => onFd(t, fd, Errno.notcapable),
    fd_readdir: (fd: number) => onFd(t, fd, Errno.notdir),
    // no preopens: libc probes fds from 3 up until EBADF and finds no directories
    fd_prestat_get: () => onFd(t, -1, Errno.badf),
    fd_prestat_dir_name: () => onFd(t, -1, Errno.badf),
    path_create_directory: (fd: number) => onDirFds(t, fd),
    path_filestat_get: (fd: number) => onDirFds(t, fd),
    path_filestat_set_times: (fd: number) => onDirFds(t, fd),
    path_link: (oldFd: number, _flags: number, _p: number, _l: number, newFd: number) => onDirFds(t, oldFd, newFd),
    path_open: (fd: number) => onDirFds(t, fd),
    path_readlink: (fd: number) => onDirFds(t, fd),
    path_remove_directory: (fd: number) => onDirFds(t, fd),
    path_rename: (fd: number, _p: number, _l: number, newFd: number) => onDirFds(t, fd, newFd),
    path_symlink: (_p: number, _l: number, fd: number) => onDirFds(t, fd),
    path_unlink_file: (fd: number) => onDirFds(t, fd),
    // there is nothing to wait on; the spec asks EINVAL for zero subscriptions
    poll_oneoff: (_in: number, _out: number, nsubscriptions: number) => {
      t.guard()
      return nsubscriptions === 0 ? Errno.inval : Errno.notsup
    },
    sock_accept: () => onSocket(t),
    sock_recv: () => onSocket(t),
    sock_send: () => onSocket(t),
    sock_shutdown: () => onSocket(t),
  } satisfies Partial<Record<WasiFunctionName, Refusal>>
}
