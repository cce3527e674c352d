#!/usr/bin/env node
// The `fogmesh` command. Runs the TypeScript sources through tsx's loader, so
// `npx fogmesh ...` works in a checkout right after `npm install`.
import { register } from 'tsx/esm/api'

register()
await import('../cli/main.ts')
