// The bundle's tar.gz writer and reader: round trip, reproducible bytes, long paths, and every way a
// tarball can be wrong refused with a BundleError naming the tarball.
import { gzipSync, gunzipSync } from 'node:zlib'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { BundleError } from './bundle-error.ts'
import { readTarGz, writeTarGz, type TarEntry } from './tar.ts'

const entries: TarEntry[] = [
  { path: 'bin/fogmesh', mode: 0o755, data: Buffer.from('#!/bin/sh\n') },
  { path: 'lib/a.js', mode: 0o644, data: Buffer.alloc(1000, 7) },
  { path: `deep/${'d'.repeat(80)}/${'f'.repeat(90)}.js`, mode: 0o600, data: Buffer.from('long path') },
  { path: 'empty', mode: 0o644, data: Buffer.alloc(0) },
]

const refused = (gz: Uint8Array): string => {
  try {
    readTarGz(gz, 't.tar.gz')
  } catch (err) {
    assert.instance(err, BundleError)
    return (err as BundleError).shortMessage
  }
  throw new Error('accepted')
}

/** A tar with one hand-made header, its checksum right. */
function withHeader(edit: (h: Buffer) => void): Buffer {
  const tar = gunzipSync(writeTarGz([{ path: 'x', mode: 0o644, data: Buffer.from('x') }], 'root'))
  const h = tar.subarray(512, 1024) // the file's header (the root directory's comes first)
  edit(h)
  h.fill(0x20, 148, 156)
  let sum = 0
  for (const b of h) sum += b
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii')
  return gzipSync(tar)
}

test('round trip: paths, modes and bytes; the same input gives the same bytes', () => {
  const gz = writeTarGz(entries, 'fogmesh-1.0.0-linux-x64')
  const { root, entries: back } = readTarGz(gz, 't')
  assert.is(root, 'fogmesh-1.0.0-linux-x64')
  assert.equal(back.map((e) => [e.path, e.mode, Buffer.from(e.data).toString('hex')]), entries.map((e) => [e.path, e.mode, Buffer.from(e.data).toString('hex')]))
  assert.ok(writeTarGz(entries, 'fogmesh-1.0.0-linux-x64').equals(gz))
})

test('refused: not gzip, truncated, a bad header, paths that climb out, links, two top directories', () => {
  const gz = writeTarGz(entries, 'r')
  assert.is(refused(Buffer.from('hello')), 't.tar.gz: not a gzip file or corrupted')
  assert.match(refused(gz.subarray(0, gz.length - 30)), /^t\.tar\.gz: truncated/)
  const tar = gunzipSync(gz)
  assert.match(refused(gzipSync(tar.subarray(0, 512 * 3))), /^t\.tar\.gz: truncated \(.*\)$/)
  const bad = Buffer.from(tar)
  bad[520] = 0x41 // inside the second header's name: the checksum no longer adds up
  assert.match(refused(gzipSync(bad)), /^t\.tar\.gz: corrupted \(bad tar header checksum at byte 512\)$/)
  assert.match(refused(withHeader((h) => h.write('root/../../etc/passwd\0', 0))), /refused path "root\/\.\.\/\.\.\/etc\/passwd"/)
  assert.match(refused(withHeader((h) => h.write('/etc/passwd\0', 0))), /refused path "\/etc\/passwd"/)
  assert.match(refused(withHeader((h) => h.write('2', 156))), /refused entry "root\/x" of tar type "2"/)
  assert.match(refused(withHeader((h) => h.write('other/x\0', 0))), /more than one top directory \("root", "other"\)/)
})

test.run()
