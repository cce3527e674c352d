/**
 * The WebAssembly JS API as V8 in Node provides it. TypeScript ships these
 * declarations only inside its DOM lib, which would also let browser globals
 * (window, document) type-check in agent code; this file declares just the
 * part the mesh uses.
 */
declare namespace WebAssembly {
  type ImportExportKind = 'function' | 'table' | 'memory' | 'global' | 'tag'
  interface ModuleImportDescriptor {
    module: string
    name: string
    kind: ImportExportKind
  }
  interface ModuleExportDescriptor {
    name: string
    kind: ImportExportKind
  }
  type ExportValue = Function | Global | Memory | Table
  type Exports = Record<string, ExportValue>
  type ImportValue = ExportValue | number | bigint
  type ModuleImports = Record<string, ImportValue>
  type Imports = Record<string, ModuleImports>
  type BufferSource = ArrayBufferView | ArrayBuffer

  class Module {
    constructor(bytes: BufferSource)
    static imports(module: Module): ModuleImportDescriptor[]
    static exports(module: Module): ModuleExportDescriptor[]
    static customSections(module: Module, sectionName: string): ArrayBuffer[]
  }
  class Instance {
    constructor(module: Module, importObject?: Imports)
    readonly exports: Exports
  }
  interface MemoryDescriptor {
    initial: number
    maximum?: number
    shared?: boolean
  }
  class Memory {
    constructor(descriptor: MemoryDescriptor)
    readonly buffer: ArrayBuffer
    grow(delta: number): number
  }
  interface TableDescriptor {
    element: 'anyfunc' | 'externref'
    initial: number
    maximum?: number
  }
  class Table {
    constructor(descriptor: TableDescriptor, value?: unknown)
    readonly length: number
    get(index: number): unknown
    grow(delta: number, value?: unknown): number
    set(index: number, value?: unknown): void
  }
  interface GlobalDescriptor {
    mutable?: boolean
    value: 'i32' | 'i64' | 'f32' | 'f64' | 'v128' | 'externref' | 'anyfunc'
  }
  class Global {
    constructor(descriptor: GlobalDescriptor, v?: unknown)
    value: unknown
    valueOf(): unknown
  }
  interface WebAssemblyInstantiatedSource {
    instance: Instance
    module: Module
  }
  class CompileError extends Error {}
  class LinkError extends Error {}
  class RuntimeError extends Error {}

  function compile(bytes: BufferSource): Promise<Module>
  function instantiate(bytes: BufferSource, importObject?: Imports): Promise<WebAssemblyInstantiatedSource>
  function instantiate(moduleObject: Module, importObject?: Imports): Promise<Instance>
  function validate(bytes: BufferSource): boolean
}
