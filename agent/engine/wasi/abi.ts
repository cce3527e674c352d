/**
 * Numbers of the WASI preview1 ABI that the host needs, taken from the spec
 * (WebAssembly/WASI legacy/preview1/witx/typenames.witx and
 * wasi_snapshot_preview1.witx). Enum values are the zero-based position of the
 * case in its witx enum; flag values are `1 << position`.
 */

export const WASI_MODULE = 'wasi_snapshot_preview1'

/** `errno` (enum, u16). Only the cases this host returns. */
export const Errno = {
  success: 0,
  '2big': 1,
  badf: 8,
  fault: 21,
  inval: 28,
  nosys: 52,
  notdir: 54,
  notsup: 58,
  spipe: 70,
  notcapable: 76,
} as const

/** `filetype` (enum, u8). */
export const Filetype = {
  unknown: 0,
  characterDevice: 2,
} as const

/** `clockid` (enum, u32). */
export const ClockId = {
  realtime: 0,
  monotonic: 1,
  processCputime: 2,
  threadCputime: 3,
} as const

/**
 * `rights` (flags, u64). Every bit the std streams can hold is below bit 32,
 * so the host keeps rights as plain u32 numbers.
 */
export const Rights = {
  fdRead: 1 << 1,
  fdFdstatSetFlags: 1 << 3,
  fdWrite: 1 << 6,
  fdFilestatGet: 1 << 21,
  pollFdReadwrite: 1 << 27,
} as const

/** `fdflags` (flags, u16): append, dsync, nonblock, rsync, sync. */
export const FDFLAGS_ALL = 0b1_1111

/**
 * `signal` (enum, u8) cases whose default action is *not* to terminate the
 * process: pipe(13), chld(16), cont(17), urg(22), winch(27). `none`(0) is reserved.
 */
export const SIGNALS_IGNORED: ReadonlySet<number> = new Set([13, 16, 17, 22, 27])
/** Highest `signal` case (`sys`). */
export const SIGNAL_MAX = 30

/** Byte sizes of the records the host writes. */
export const FDSTAT_SIZE = 24 // filetype u8 @0, fdflags u16 @2, rights_base u64 @8, rights_inheriting u64 @16
export const FILESTAT_SIZE = 64 // dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56
export const IOVEC_SIZE = 8 // buf u32 @0, buf_len u32 @4

/** wasi-libc's IOV_MAX: readv/writev with more vectors fail with EINVAL. */
export const IOV_MAX = 1024

/**
 * Every function of `wasi_snapshot_preview1`, in witx order. The host provides
 * all of them, so any toolchain's command module links; module-check accepts
 * imports from this list only.
 */
export const WASI_PREVIEW1_FUNCTIONS = [
  'args_get',
  'args_sizes_get',
  'environ_get',
  'environ_sizes_get',
  'clock_res_get',
  'clock_time_get',
  'fd_advise',
  'fd_allocate',
  'fd_close',
  'fd_datasync',
  'fd_fdstat_get',
  'fd_fdstat_set_flags',
  'fd_fdstat_set_rights',
  'fd_filestat_get',
  'fd_filestat_set_size',
  'fd_filestat_set_times',
  'fd_pread',
  'fd_prestat_get',
  'fd_prestat_dir_name',
  'fd_pwrite',
  'fd_read',
  'fd_readdir',
  'fd_renumber',
  'fd_seek',
  'fd_sync',
  'fd_tell',
  'fd_write',
  'path_create_directory',
  'path_filestat_get',
  'path_filestat_set_times',
  'path_link',
  'path_open',
  'path_readlink',
  'path_remove_directory',
  'path_rename',
  'path_symlink',
  'path_unlink_file',
  'poll_oneoff',
  'proc_exit',
  'proc_raise',
  'sched_yield',
  'random_get',
  'sock_accept',
  'sock_recv',
  'sock_send',
  'sock_shutdown',
] as const

export type WasiFunctionName = (typeof WASI_PREVIEW1_FUNCTIONS)[number]

/** The `wasi_snapshot_preview1` import object: one host function per name. */
export type WasiImports = Record<WasiFunctionName, (...args: never[]) => number>
