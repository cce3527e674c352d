import { readFileSync } from 'node:fs'

/** The package version, advertised in presence so operators can see mixed fleets. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
