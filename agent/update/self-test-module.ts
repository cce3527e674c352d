/**
 * The module an agent runs on itself after an update (self-test.ts): a WASI command
 * that reads up to 256 bytes from stdin and writes them back. 176 bytes, built in,
 * so the self-test needs neither the broker nor a file. Its source (WAT) is below;
 * self-test.test.ts compiles it with wabt and checks the bytes are these.
 */
export const SELF_TEST_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const 256))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 16)))
    (i32.store (i32.const 4) (i32.load (i32.const 16)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16)))))`

export const SELF_TEST_MODULE = Buffer.from(
  'AGFzbQEAAAABDAJgBH9/f38Bf2AAAAJEAhZ3YXNpX3NuYXBzaG90X3ByZXZpZXcxB2ZkX3JlYWQAABZ3YXNpX3NuYXBzaG90X3ByZXZpZXcxCGZkX3dyaXRlAAADAgEBBQMBAAEHEwIGbWVtb3J5AgAGX3N0YXJ0AAIKNAEyAEEAQcAANgIAQQRBgAI2AgBBAEEAQQFBEBAAGkEEQRAoAgA2AgBBAUEAQQFBEBABGgs=',
  'base64',
)
