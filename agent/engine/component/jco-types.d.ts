/**
 * The part of `@bytecodealliance/jco` (1.35) that fogmesh uses, declared here so that the
 * type check does not depend on jco being installed (it is loaded lazily, only when a
 * component arrives). An ambient declaration wins over the package's own types, so this
 * is also what the code is checked against once jco is installed: keep it in step with
 * jco's dist/api.d.ts and jco-transpile's wasm-tools.d.ts.
 */
declare module '@bytecodealliance/jco' {
  export interface TranspileOpts {
    /** Base name of the generated files (`<name>.js`, `<name>.core.wasm`, ...). */
    name?: string
    /** Generate `instantiate(getCoreModule, imports, instantiateCore)` instead of an ES module with imports. */
    instantiation?: 'async' | 'sync'
    /** Passed through to jco-transpile: false skips the .d.ts files. */
    emitTypescriptDeclarations?: boolean
    /** Core modules below this size are inlined as base64 (not in instantiation mode). */
    base64Cutoff?: number
    tracing?: boolean
    minify?: boolean
    optimize?: boolean
  }
  export interface TranspileResult {
    files: Record<string, Uint8Array>
    /** Imported interfaces and functions, without versions (`wasi:cli/stdin`). */
    imports: string[]
    /** Exports with their kind: `['run', 'function']`, `['wasi:cli/run@0.2.12', 'instance']`. */
    exports: Array<[string, 'function' | 'instance']>
  }
  export function transpile(component: Uint8Array, opts?: TranspileOpts): Promise<TranspileResult>

  export interface EmbedOpts {
    binary?: Uint8Array
    witSource?: string
    witPath?: string
    stringEncoding?: 'utf8' | 'utf16' | 'compact-utf16'
    dummy?: boolean
    world?: string
    metadata?: Array<[string, Array<[string, string]>]>
  }
  /** Embeds a WIT world (as a custom section) into a core module. */
  export function componentEmbed(opts: EmbedOpts): Promise<Uint8Array>
  /** Wraps a core module with embedded WIT into a component; `adapters`: [import module name, adapter bytes]. */
  export function componentNew(bytes: Uint8Array, adapters?: Array<[string, Uint8Array]>): Promise<Uint8Array>
  /** The WIT world of a component, as text. */
  export function componentWit(bytes: Uint8Array): Promise<string>
  /** jco's build of the WASI preview1 -> preview2 adapter for commands. */
  export function preview1AdapterCommandPath(): URL
}
