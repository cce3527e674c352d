/**
 * WebAssembly components as jobs (the second job form, beside WASI preview1 commands):
 * detection, transpiling with jco (once per sha256), metering, and running under the same
 * fuel and memory limits as preview1 jobs.
 */
export { isComponent, wasmBinaryKind } from './header.ts'
export type { WasmBinaryKind } from './header.ts'
export { ComponentRunner } from './component-runner.ts'
export type { ComponentRunnerOptions } from './component-runner.ts'
export { forgetComponent, isTranspiled, prepareComponent, transpileCount } from './prepare.ts'
export type { ComponentInfo, ComponentMetering, CoreRewriter, MeteredCore, ComponentPrepareOptions, PreparedComponent } from './prepare.ts'
export type { InstantiateCore } from './instantiate.ts'
export { jcoAvailable } from './jco.ts'
