/**
 * A settling agent for the crash test (agent/settlement/settler.test.ts), as its own process so
 * that it can be killed with SIGKILL anywhere: reconciles its journal with the
 * chain, then takes vouchers from a file, prints `ack <i>` once each is
 * journaled, and settles every few jobs; with `--finish` it settles what is
 * left and exits.
 *
 * argv: <rpc> <channels address> <agent private key> <journal path> <vouchers json> <first index> [--finish]
 */
import { readFileSync } from 'node:fs'
import { Wallet } from 'ethers'
import { ChannelsClient } from '../../contracts/channels/channels-client.ts'
import { connectRpc } from '../../contracts/deploy.ts'
import { VoucherJournal } from '../../agent/settlement/journal.ts'
import { Settler } from '../../agent/settlement/settler.ts'

const [rpc, channels, key, journalPath, vouchersPath, first, finish] = process.argv.slice(2) as string[]
const provider = await connectRpc(rpc!)
const wallet = new Wallet(key!, provider)
const client = await ChannelsClient.connect(channels!, wallet)
const journal = new VoucherJournal(journalPath!)
const settler = new Settler(client, journal, { everyJobs: 3 })
settler.on('settleFailed', () => {}) // a settlement cut short by the kill is reconciled on restart
const r = await settler.reconcile()
process.stdout.write(`reconciled ${r.confirmed} ${r.failed}\n`)
const vouchers = (JSON.parse(readFileSync(vouchersPath!, 'utf8')) as Array<Record<string, string>>).map((v) => ({
  channelId: BigInt(v.channelId!),
  cumulativeAmount: BigInt(v.cumulativeAmount!),
  resultsRoot: v.resultsRoot!,
  jobCount: BigInt(v.jobCount!),
  signature: v.signature!,
  leaves: [{ jobId: `job-${v.jobCount}`, leaf: v.resultsRoot! }],
}))
process.stdout.write('ready\n')
for (let i = Number(first); i < vouchers.length; i++) {
  const res = await settler.intake(vouchers[i]!)
  if (res.ok) process.stdout.write(`ack ${i}\n`)
  else process.stdout.write(`refused ${i} ${res.reason}\n`)
}
if (finish) {
  await settler.settle()
  process.stdout.write('finished\n')
}
provider.destroy()
journal.close()
