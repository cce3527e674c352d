/**
 * Settlement cost on a local anvil, side by side, in one run:
 *
 *   gas per job paid at N = 1, 10, 100, 1,000 jobs per settlement
 *     - fogmesh: one cumulative voucher covering N jobs, one PaymentChannels.settle (gas / N)
 *     - one ERC-20 transfer per job (requester -> agent), N transactions
 *     - a batch transfer (contracts/src/Disperse.sol, disperse.app's disperseTokenSimple): one
 *       transaction with N transferFroms to the same agent, and to N fresh payees
 *   settleMany: one transaction for 1 / 10 / 50 channels vs. a settle transaction per channel
 *   vouchers per second on one core: ethers signTypedData vs SigningKey.sign on the cached
 *   domain digest; verification with ethers verifyTypedData vs the cached digest + recover;
 *   the requester's results-tree append + root per job
 *
 * The agent already holds tokens in every case (a steady-state payee), so no case pays for
 * creating its balance slot except the "N fresh payees" column. Gas is receipt gasUsed (the 21,000
 * transaction base included). The last line is:
 *   gas per job at N=1000: <ours> (ERC-20 transfer per job: <theirs>)
 *
 *   npm run bench:settlement        (or: node --import tsx bench/settlement.bench.ts [seconds per CPU case=1])
 */
import {
  Contract,
  Wallet,
  ZeroHash,
  getAddress,
  hexlify,
  keccak256,
  parseUnits,
  randomBytes,
  toUtf8Bytes,
  verifyTypedData,
  type JsonRpcProvider,
} from 'ethers'
import { startAnvil } from '../contracts/anvil.ts'
import { rpcCall } from '../contracts/rpc-call.ts'
import { FastVoucherSigner, VOUCHER_TYPES, verifyVoucher, type SignedVoucher, type Voucher } from '../protocol/voucher.ts'
import { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { connectRpc, deployContract, deployMesh } from '../contracts/deploy.ts'
import { ResultsTree, resultLeaf } from '../protocol/results-tree.ts'
import { confirm } from '../contracts/tx.ts'
import { header, progress, table, target } from './report.ts'
import { int, ratio } from './summary.ts'

const CPU_SECONDS = Number(process.argv[2] ?? 1)
const NS = [1, 10, 100, 1000]
const PRICE = parseUnits('0.001', 18) // per job
const BATCH_CHANNELS = [1, 10, 50]
const t0 = performance.now()

header('fogmesh settlement: gas per job paid, and vouchers per core', [
  'gas = receipt gasUsed on anvil (21,000 transaction base included); the agent already holds tokens in every case',
])

// ---- chain ----------------------------------------------------------------------------------

const node = await startAnvil({ accounts: 60, gasLimit: 100_000_000n })
let provider: JsonRpcProvider | null = null
try {
  provider = await connectRpc(node.rpc)
  const info = await rpcCall<{ hardFork: string }>(node.rpc, 'anvil_nodeInfo', [])
  const wallets = node.accounts.map((k) => new Wallet(k, provider))
  const [deployer, requester, agentWallet] = wallets as [Wallet, Wallet, Wallet]
  const mesh = await deployMesh({ signer: deployer, mint: wallets.map((w) => ({ to: w.address, amount: parseUnits('1000000', 18) })) })
  const disperse = await deployContract('Disperse', deployer)
  const disperseAddress = await disperse.getAddress()
  const token = mesh.token
  const chainId = mesh.chainId
  console.log(`anvil ${node.rpc}, hardfork ${info.hardFork}, chain id ${chainId}; solc artifacts from contracts/artifacts/`)
  console.log('')

  const req = await ChannelsClient.connect(mesh.addresses.channels, requester)
  const agent = await ChannelsClient.connect(mesh.addresses.channels, agentWallet)
  const signer = new FastVoucherSigner(requester.privateKey, req.hasher)

  /** Sends signed raw transactions with a local nonce (no estimateGas / nonce round trips). */
  const feeCap = 100_000_000_000n
  let rawNonce = await provider.getTransactionCount(requester.address, 'pending')
  async function sendRaw(to: string, data: string, gasLimit = 120_000n): Promise<string> {
    const raw = await requester.signTransaction({ type: 2, chainId, nonce: rawNonce++, to, data, gasLimit, maxFeePerGas: feeCap, maxPriorityFeePerGas: 1_000_000_000n, value: 0n })
    return rpcCall<string>(node.rpc, 'eth_sendRawTransaction', [raw])
  }
  async function gasOf(hashes: string[]): Promise<bigint> {
    let sum = 0n
    for (const h of hashes) {
      let r: { gasUsed: string; status: string } | null = null
      // automine: mined right after eth_sendRawTransaction returns, but not necessarily before
      for (let tries = 0; !r; tries++) {
        r = await rpcCall<{ gasUsed: string; status: string } | null>(node.rpc, 'eth_getTransactionReceipt', [h])
        if (!r && tries > 500) throw new Error(`no receipt for ${h}`)
        if (!r) await new Promise((res) => setTimeout(res, 5))
      }
      if (r.status !== '0x1') throw new Error(`transaction ${h} failed`)
      sum += BigInt(r.gasUsed)
    }
    return sum
  }
  const tokenIface = token.interface

  // ---- gas per job at N -----------------------------------------------------------------------

  progress('gas per job: channel settle, transfer per job, disperse')
  const totalJobs = NS.reduce((a, n) => a + n, 0)
  const expiry = BigInt((await provider.getBlock('latest'))!.timestamp) + 86_400n
  const { channelId } = await req.openChannel({ payee: agentWallet.address, amount: PRICE * BigInt(totalJobs) * 2n, expiry })
  // the requester approves Disperse once, up front (not counted)
  await confirm(await (token.connect(requester) as Contract).getFunction('approve')(disperseAddress, PRICE * BigInt(totalJobs) * 4n))
  rawNonce = await provider.getTransactionCount(requester.address, 'pending')

  interface Row { n: number; ours: number; transfer: number; disperseSame: number; disperseFresh: number }
  const rows: Row[] = []
  const tree = new ResultsTree()
  let cumulative = 0n
  for (const n of NS) {
    // fogmesh: N results into the tree, one voucher for all of them, one settle
    for (let i = 0; i < n; i++) {
      const job = tree.size
      tree.append(resultLeaf({ jobId: `bench-${job}`, outputSha256: keccak256(toUtf8Bytes(`out-${job}`)), fuel: 100_000 + job }))
    }
    cumulative += PRICE * BigInt(n)
    const v: Voucher = { channelId, cumulativeAmount: cumulative, jobCount: BigInt(tree.size), resultsRoot: tree.root }
    const settled = await agent.settle(v, signer.sign(v))
    if (settled.settlement.batchJobCount !== BigInt(n)) throw new Error('batch job count')
    const ours = Number(settled.receipt.gasUsed) / n

    // one ERC-20 transfer per job
    const transferData = tokenIface.encodeFunctionData('transfer', [agentWallet.address, PRICE])
    const hashes: string[] = []
    for (let i = 0; i < n; i++) hashes.push(await sendRaw(mesh.addresses.token, transferData))
    const transfer = Number(await gasOf(hashes)) / n

    // batch transfer: N payouts to the same agent, and to N payees without a balance yet
    const same = disperse.interface.encodeFunctionData('disperseToken', [mesh.addresses.token, Array(n).fill(agentWallet.address), Array(n).fill(PRICE)])
    const disperseSame = Number(await gasOf([await sendRaw(disperseAddress, same, 60_000_000n)])) / n
    const fresh = Array.from({ length: n }, () => getAddress(hexlify(randomBytes(20))))
    const freshData = disperse.interface.encodeFunctionData('disperseToken', [mesh.addresses.token, fresh, Array(n).fill(PRICE)])
    const disperseFresh = Number(await gasOf([await sendRaw(disperseAddress, freshData, 60_000_000n)])) / n
    rows.push({ n, ours, transfer, disperseSame, disperseFresh })
  }

  console.log('gas per job paid (one voucher / one settle pays N jobs)')
  console.log(
    table([
      ['jobs per settlement N', 'fogmesh settle', 'ERC-20 transfer per job', 'disperse, same agent', 'disperse, N fresh payees', 'transfer / fogmesh'],
      ...rows.map((r) => [String(r.n), int(r.ours), int(r.transfer), int(r.disperseSame), int(r.disperseFresh), ratio(r.transfer, r.ours)]),
    ]),
  )
  console.log('')

  // ---- settleMany vs a transaction per channel ---------------------------------------------------

  progress('settleMany vs settle per channel')
  const requesters = wallets.slice(3) // 57 requesters, one channel each per round
  async function openChannels(k: number): Promise<Array<{ v: SignedVoucher }>> {
    const out: Array<{ v: SignedVoucher }> = []
    for (let i = 0; i < k; i++) {
      const w = requesters[i % requesters.length]!
      const c = await ChannelsClient.connect(mesh.addresses.channels, w)
      const { channelId: id } = await c.openChannel({ payee: agentWallet.address, amount: parseUnits('10', 18), expiry })
      const voucher: Voucher = { channelId: id, cumulativeAmount: PRICE * 1000n, jobCount: 1000n, resultsRoot: keccak256(toUtf8Bytes(`root-${id}`)) }
      out.push({ v: { ...voucher, signature: new FastVoucherSigner(w.privateKey, c.hasher).sign(voucher) } })
    }
    return out
  }
  const manyRows: string[][] = []
  let tenMany = 0
  let tenSeparate = 0
  for (const k of BATCH_CHANNELS) {
    const separate = await openChannels(k)
    let separateGas = 0n
    for (const { v } of separate) separateGas += (await agent.settle(v, v.signature)).receipt.gasUsed
    const batched = await openChannels(k)
    const many = await agent.settleMany(batched.map((b) => b.v))
    const perSeparate = Number(separateGas) / k
    const perMany = Number(many.receipt.gasUsed) / k
    if (k === 10) {
      tenMany = perMany
      tenSeparate = perSeparate
    }
    manyRows.push([String(k), int(perSeparate), int(perMany), ratio(perSeparate, perMany), (perMany / 1000).toFixed(1)])
  }
  console.log('settling K channels (1,000 jobs per voucher): gas per channel')
  console.log(table([['channels K', 'K settle transactions', 'one settleMany', 'saving', 'settleMany gas per job'], ...manyRows]))
  console.log('')

  // ---- vouchers per core ------------------------------------------------------------------------

  progress('vouchers per second on one core')
  function measure(fn: (i: number) => unknown, seconds = CPU_SECONDS): { opsPerSec: number; usPerOp: number } {
    const run = (s: number) => {
      const end = performance.now() + s * 1000
      let n = 0
      const t = performance.now()
      while (performance.now() < end) for (let k = 0; k < 8; k++) fn(n++)
      return { n, ms: performance.now() - t }
    }
    run(0.2)
    const { n, ms } = run(seconds)
    return { opsPerSec: (n / ms) * 1000, usPerOp: (ms * 1000) / n }
  }
  async function measureAsync(fn: (i: number) => Promise<unknown>, seconds = CPU_SECONDS): Promise<{ opsPerSec: number; usPerOp: number }> {
    const run = async (s: number) => {
      const end = performance.now() + s * 1000
      let n = 0
      const t = performance.now()
      while (performance.now() < end) await fn(n++)
      return { n, ms: performance.now() - t }
    }
    await run(0.2)
    const { n, ms } = await run(seconds)
    return { opsPerSec: (n / ms) * 1000, usPerOp: (ms * 1000) / n }
  }
  const offline = new Wallet(requester.privateKey) // no provider: signTypedData stays local
  const domain = req.domain
  const voucherAt = (i: number): Voucher => ({ channelId, cumulativeAmount: PRICE * BigInt(i + 1), jobCount: BigInt(i + 1), resultsRoot: tree.root })
  const sample = voucherAt(41)
  const sampleSig = signer.sign(sample)
  if ((await offline.signTypedData(domain, VOUCHER_TYPES, sample)) !== sampleSig) throw new Error('fast path signature differs from signTypedData')
  const signGeneric = await measureAsync((i) => offline.signTypedData(domain, VOUCHER_TYPES, voucherAt(i)))
  const signFast = measure((i) => signer.sign(voucherAt(i)))
  const verifyGeneric = measure(() => verifyTypedData(domain, VOUCHER_TYPES, sample, sampleSig) === requester.address)
  const ctx = { hasher: agent.hasher, requester: requester.address, channelId, deposit: PRICE * 1_000_000n, previous: { cumulativeAmount: 0n, jobCount: 0n } }
  if (!verifyVoucher(sample, sampleSig, ctx).ok) throw new Error('verifyVoucher refused a good voucher')
  const verifyFast = measure(() => verifyVoucher(sample, sampleSig, ctx))
  const appendTree = new ResultsTree()
  const leaf = resultLeaf({ jobId: 'x', outputSha256: ZeroHash, fuel: 1 })
  const treeStep = measure(() => {
    appendTree.append(leaf)
    return appendTree.root
  })
  const row = (label: string, m: { opsPerSec: number; usPerOp: number }, vs?: { opsPerSec: number }) => [label, int(m.opsPerSec), m.usPerOp.toFixed(1), vs ? ratio(m.opsPerSec, vs.opsPerSec) : '']
  console.log(`vouchers on one core (${CPU_SECONDS} s per case, after a warm-up)`)
  console.log(
    table([
      ['one core', 'ops/s', 'us/op', 'vs ethers'],
      row('sign   ethers Wallet.signTypedData', signGeneric),
      row('sign   FastVoucherSigner (cached domain, SigningKey.sign)', signFast, signGeneric),
      row('verify ethers verifyTypedData', verifyGeneric),
      row('verify verifyVoucher (cached domain, recover, all contract rules)', verifyFast, verifyGeneric),
      row(`results tree append + root (at ${int(appendTree.size)} leaves)`, treeStep),
    ]),
  )
  console.log('')

  // ---- targets ---------------------------------------------------------------------------------

  const at1000 = rows.find((r) => r.n === 1000)!
  console.log(`(${((performance.now() - t0) / 1000).toFixed(1)} s)`)
  target('gas per job at N=1000 <= 100', int(at1000.ours), at1000.ours <= 100)
  target('>= 500x cheaper than an ERC-20 transfer per job at N=1000', ratio(at1000.transfer, at1000.ours), at1000.transfer >= 500 * at1000.ours)
  target('settleMany of 10 channels cheaper per channel than 10 settle transactions', `${int(tenMany)} vs ${int(tenSeparate)}`, tenMany < tenSeparate)
  console.log(`gas per job at N=1000: ${at1000.ours.toFixed(1)} (ERC-20 transfer per job: ${Math.round(at1000.transfer)})`)
} finally {
  provider?.destroy()
  await node.stop()
}
