/**
 * The quorum rule: when the results of several agents for one job stand.
 *
 * Results agree when their (status, output sha256, fuel) agree — error results by their code
 * and fuel; non-deterministic errors (a deadline, an internal failure) by their code only,
 * since their fuel is wherever the clock stopped them. The largest class of agreeing results
 * stands when it has
 *   - at least `requiredAgreement(redundancy, rule)` members (all of them for `all`, more than
 *     half for `majority`),
 *   - more members than every other class together (a strict majority of what was heard), and
 *   - when anyone disagreed, at least `contestedQuorum` members (3 by default, the court's
 *     `quorumMinAgents` when there is one).
 * The last rule is what keeps a colluding pair from deciding a job: two liars assigned with one
 * honest agent are a majority of three, but not a contested quorum; referees are brought in
 * until one class reaches it (and the contested result becomes evidence a court accepts).
 */
import type { Result } from '../protocol/messages.ts'
import { requiredAgreement } from '../protocol/quorum-certificate.ts'
import { isDeterministicOutcome, outcomeOf } from '../protocol/statement.ts'

/** The class a result belongs to. */
export function classKey(r: Pick<Result, 'status' | 'outputSha256' | 'error' | 'fuel'>): string {
  if (r.status === 'ok') return `ok|${r.outputSha256}|${r.fuel}`
  const code = r.error?.code ?? ''
  return isDeterministicOutcome(outcomeOf('error', code)) ? `error|${code}|${r.fuel}` : `error|${code}`
}

export interface Tallied<T> {
  key: string
  members: T[]
}

/** Results grouped by class, largest first (ties: the class heard first). */
export function tally<T>(items: T[], result: (t: T) => Result): Tallied<T>[] {
  const byKey = new Map<string, Tallied<T>>()
  for (const it of items) {
    const key = classKey(result(it))
    let c = byKey.get(key)
    if (!c) {
      c = { key, members: [] }
      byKey.set(key, c)
    }
    c.members.push(it)
  }
  return [...byKey.values()].sort((a, b) => b.members.length - a.members.length)
}

export interface QuorumRule {
  redundancy: number
  rule: 'all' | 'majority'
  /** Agreeing results a contested job needs (>= 3 keeps a colluding pair from deciding). */
  contestedQuorum: number
}

export type Decision<T> =
  | { kind: 'stands'; winner: Tallied<T>; losers: T[]; contested: boolean }
  | { kind: 'more'; missing: number; contested: boolean }

export function decide<T>(items: T[], result: (t: T) => Result, q: QuorumRule): Decision<T> {
  const classes = tally(items, result)
  const top = classes[0]
  const topSize = top?.members.length ?? 0
  const rest = items.length - topSize
  const contested = classes.length > 1
  const target = Math.max(requiredAgreement(q.redundancy, q.rule), rest + 1, contested ? q.contestedQuorum : 0)
  if (top && topSize >= target) {
    return { kind: 'stands', winner: top, losers: classes.slice(1).flatMap((c) => c.members), contested }
  }
  return { kind: 'more', missing: target - topSize, contested }
}
