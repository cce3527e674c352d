// Types for contracts/compile.js (plain ESM JavaScript so that npm postinstall needs no tsx).
export declare const ARTIFACTS_DIR: string
export declare const SETTINGS: {
  optimizer: { enabled: boolean; runs: number }
  evmVersion: string
  viaIR: boolean
  metadata: { bytecodeHash: string; appendCBOR: boolean }
}
export declare function compileContracts(options?: {
  force?: boolean
  check?: boolean
  quiet?: boolean
  outDir?: string
}): Promise<{ compiled: boolean; contracts: string[] }>
