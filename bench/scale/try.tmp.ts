import { runScale } from './harness.ts'
const args = process.argv.slice(3)
const f = await runScale({ agents: Number(process.argv[2]), auctions: 30, jobs: 300, churnSeconds: 4, churnPerSecond: 4, idleMs: 2000, brokerArgs: args, progress: (m) => console.error(m) })
console.log(JSON.stringify(f))
process.exit(0)
