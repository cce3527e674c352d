#!/usr/bin/env node
// Compiles fogmesh's Solidity contracts with solc-js (npm `solc`), offline.
//
//   node contracts/compile.js            compile when out of date (runs in npm postinstall)
//   node contracts/compile.js --force    compile even when up to date
//   node contracts/compile.js --check    exit 1 when the artifacts are out of date, compile nothing
//
// Sources: every contracts/src/**/*.sol (src/test/ holds contracts used only by the tests).
// `@openzeppelin/contracts/...` imports are read from the installed package through solc's import
// callback; nothing is fetched. Output: contracts/artifacts/<Contract>.json with the ABI, creation
// and runtime bytecode, plus contracts/artifacts/build-info.json (compiler version, settings,
// fingerprint). The artifacts are generated, not committed (contracts/artifacts/ is gitignored).
//
// Up to date means: the fingerprint in build-info.json equals the sha256 over the compiler version,
// the settings, this script and every source that went into the last compile (ours and the
// OpenZeppelin files it imported), and every artifact file is there.
//
// Reproducible: the same sources and compiler give the same bytecode on every machine. Source unit
// names are repository-relative, the optimizer and EVM version are pinned, and no metadata hash
// (which would embed IPFS/Swarm hashes of the sources) is appended to the bytecode.
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const thisFile = fileURLToPath(import.meta.url)
const root = resolve(dirname(thisFile), '..')
const srcDir = join(root, 'contracts', 'src')
export const ARTIFACTS_DIR = join(root, 'contracts', 'artifacts')

/** Pinned so the bytecode only depends on the sources and the compiler version. */
export const SETTINGS = {
  // settle/settleMany are the hot path: optimize for runtime cost, not deployment size
  optimizer: { enabled: true, runs: 20000 },
  evmVersion: 'cancun', // PUSH0, MCOPY, transient storage (ReentrancyGuardTransient)
  viaIR: true,
  metadata: { bytecodeHash: 'none', appendCBOR: false },
}

const OZ_PREFIX = '@openzeppelin/contracts/'
const ozDir = dirname(require.resolve('@openzeppelin/contracts/package.json'))

/** Repository-relative source unit name with '/' separators. */
const unitName = (abs) => relative(root, abs).split(sep).join('/')

function findSources(dir, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) findSources(path, out)
    else if (entry.name.endsWith('.sol')) out.push(path)
  }
  return out.sort()
}

/** Import callback: only the installed OpenZeppelin package and our own contracts/ folder. */
function readImport(path) {
  let abs
  if (path.startsWith(OZ_PREFIX)) abs = resolve(ozDir, path.slice(OZ_PREFIX.length))
  else if (path.startsWith('contracts/')) abs = resolve(root, path)
  else return { error: `import not allowed (only ${OZ_PREFIX}... and contracts/...): ${path}` }
  const base = path.startsWith(OZ_PREFIX) ? ozDir : join(root, 'contracts')
  if (!abs.startsWith(base + sep)) return { error: `import outside its package: ${path}` }
  try {
    return { contents: readFileSync(abs, 'utf8') }
  } catch {
    return { error: `file not found: ${path}` }
  }
}

function sha256(text) {
  return createHash('sha256').update(text).digest('hex')
}

/** Fingerprint over everything that decides the output; `imports` is the list from the last build. */
function fingerprint(solcVersion, sources, imports) {
  const h = createHash('sha256')
  h.update(`solc ${solcVersion}\n${JSON.stringify(SETTINGS)}\n${sha256(readFileSync(thisFile))}\n`)
  for (const [name, content] of Object.entries(sources)) h.update(`${name} ${sha256(content)}\n`)
  for (const name of imports) {
    const r = readImport(name)
    h.update(`${name} ${'contents' in r ? sha256(r.contents) : 'missing'}\n`)
  }
  return h.digest('hex')
}

function installedSolcVersion() {
  return JSON.parse(readFileSync(require.resolve('solc/package.json'), 'utf8')).version
}

function readBuildInfo() {
  try {
    return JSON.parse(readFileSync(join(ARTIFACTS_DIR, 'build-info.json'), 'utf8'))
  } catch {
    return null
  }
}

function writeAtomic(path, text) {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, text)
  renameSync(tmp, path)
}

/**
 * Compiles when out of date. Returns { compiled: boolean, contracts: string[] }.
 * Throws (with solc's messages) on a compile error.
 */
export async function compileContracts({ force = false, check = false, quiet = false, outDir = ARTIFACTS_DIR } = {}) {
  const log = quiet ? () => {} : (m) => console.log(m)
  const sources = {}
  for (const abs of findSources(srcDir)) sources[unitName(abs)] = readFileSync(abs, 'utf8')

  // npm `solc` versions are the compiler versions (0.8.37 -> 0.8.37+commit...)
  const packageVersion = installedSolcVersion()
  const info = outDir === ARTIFACTS_DIR ? readBuildInfo() : null
  if (!force && info && info.solcPackage === packageVersion) {
    const expected = fingerprint(info.solcVersion, sources, info.imports ?? [])
    const present = (info.contracts ?? []).every((c) => existsSync(join(outDir, `${c}.json`)))
    if (expected === info.fingerprint && present) {
      log(`contracts: up to date (${info.contracts.length} artifacts in ${unitName(outDir)}/)`)
      return { compiled: false, contracts: info.contracts }
    }
  }
  if (check) throw new Error('contracts: artifacts are out of date (run node contracts/compile.js)')

  const t0 = performance.now()
  const { default: solc } = await import('solc')
  const solcVersion = solc.version()
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries(Object.entries(sources).map(([k, content]) => [k, { content }])),
    settings: {
      ...SETTINGS,
      outputSelection: Object.fromEntries(
        Object.keys(sources).map((k) => [k, { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] }]),
      ),
    },
  }
  const imported = new Set()
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (path) => {
        imported.add(path)
        return readImport(path)
      },
    }),
  )
  const problems = output.errors ?? []
  const errors = problems.filter((e) => e.severity === 'error')
  // warnings about our own sources only (OpenZeppelin's transient-storage notice is known)
  for (const w of problems.filter((e) => e.severity !== 'error' && !e.sourceLocation?.file?.startsWith(OZ_PREFIX))) {
    if (!quiet) console.warn(w.formattedMessage ?? w.message)
  }
  if (errors.length > 0) {
    throw new Error(`contracts: solc ${solcVersion} failed:\n${errors.map((e) => e.formattedMessage ?? e.message).join('\n')}`)
  }

  mkdirSync(outDir, { recursive: true })
  const contracts = []
  for (const [sourceName, byName] of Object.entries(output.contracts ?? {})) {
    for (const [contractName, c] of Object.entries(byName)) {
      if (contracts.includes(contractName)) throw new Error(`contracts: two contracts named ${contractName}`)
      contracts.push(contractName)
      const artifact = {
        contractName,
        sourceName,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { version: solcVersion, settings: SETTINGS },
      }
      writeAtomic(join(outDir, `${contractName}.json`), JSON.stringify(artifact, null, 2) + '\n')
    }
  }
  contracts.sort()
  const imports = [...imported].sort()
  const buildInfo = {
    solcVersion,
    solcPackage: packageVersion,
    settings: SETTINGS,
    sources: Object.keys(sources),
    imports,
    contracts,
    fingerprint: fingerprint(solcVersion, sources, imports),
  }
  writeAtomic(join(outDir, 'build-info.json'), JSON.stringify(buildInfo, null, 2) + '\n')
  log(`contracts: compiled ${contracts.length} contracts with solc ${solcVersion} in ${((performance.now() - t0) / 1000).toFixed(1)} s -> ${unitName(outDir)}/`)
  return { compiled: true, contracts }
}

if (process.argv[1] && resolve(process.argv[1]) === thisFile) {
  const args = process.argv.slice(2)
  try {
    await compileContracts({ force: args.includes('--force'), check: args.includes('--check') })
  } catch (e) {
    console.error(e instanceof Error ? e.message : String(e))
    process.exit(1)
  }
}
