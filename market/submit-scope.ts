/**
 * Whose a submitted job is, where it may be answered, and the id the mesh runs it under.
 *
 * - On `fm/v1/jobs/submit/<name>` (an authenticated client: only `<name>` may publish
 *   there, broker/auth/rules.ts) the job is `<name>`'s. Its `replyTo` must be
 *   `fm/v1/replies/<name>` or below: the gateway refuses any other (`invalid_field`,
 *   answered on `fm/v1/replies/<name>`) rather than rewriting it — a rewritten reply
 *   would go where the sensor does not listen, and a gateway that answers anywhere
 *   is a deputy anyone can aim (at another sensor's replies, at an agent's topics).
 *   The mesh runs it as `<id>@<name>`, so ids are per identity: nobody can pre-empt
 *   a sensor's next ids, because nobody else can submit in its name.
 * - On the plain `fm/v1/jobs/submit` (anonymous, the way it always worked) the job
 *   belongs to its `replyTo`, which must lie outside `fm/` and `$` (the mesh's own
 *   topics are never a reply target); the mesh id is `<id>@<first 12 hex of sha256(replyTo)>`.
 */
import { createHash } from 'node:crypto'
import { PREFIX, topics } from '../protocol/topics.ts'

const SUBMIT_AS = `${PREFIX}/jobs/submit/`

/** The submitter's name from `fm/v1/jobs/submit/<name>`, or undefined for the plain topic. */
export function submitterOf(topic: string): string | undefined {
  if (!topic.startsWith(SUBMIT_AS)) return undefined
  const name = topic.slice(SUBMIT_AS.length)
  return name.length > 0 && !name.includes('/') ? name : undefined
}

/** What `replyTo` should have been when it is no place to answer a job of `submitter` (for the error), or undefined when it is fine. */
export function replyRefusal(submitter: string | undefined, replyTo: string): string | undefined {
  if (submitter !== undefined) {
    const root = topics.replies(submitter)
    return replyTo === root || replyTo.startsWith(`${root}/`) ? undefined : `${root} or a topic below it (jobs submitted on ${topics.submitAs(submitter)} are answered there)`
  }
  return replyTo === 'fm' || replyTo.startsWith('fm/') || replyTo.startsWith('$') ? 'a topic outside fm/ and $ (the mesh\'s own topics are no reply target)' : undefined
}

/**
 * The same for a stream job (`fm/v1/streams/submit[/<name>]`, `owner` '' for the plain topic): its
 * agent answers every window itself, so the target matters as much. A named submitter is answered
 * under `fm/v1/replies/<name>` or its own bridge's `fm/v1/bridge/<name>/` (a command topic: results
 * drive its actuators); a plain one outside `fm/` and `$`, or on a bridge's topics (`fm/v1/bridge/…`,
 * where the broker's rules decide who may write).
 */
export function streamReplyRefusal(owner: string, replyTo: string): string | undefined {
  if (owner !== '') {
    const under = (root: string) => replyTo === root || replyTo.startsWith(`${root}/`)
    return under(topics.replies(owner)) || under(`${PREFIX}/bridge/${owner}`) ? undefined : `${topics.replies(owner)} or ${PREFIX}/bridge/${owner}/… (streams submitted on ${PREFIX}/streams/submit/${owner} are answered there)`
  }
  return replyTo.startsWith(`${PREFIX}/bridge/`) ? undefined : replyRefusal(undefined, replyTo)
}

/** The id the mesh runs the job under (what the agent signs). */
export function meshJobIdOf(submitter: string | undefined, id: string, replyTo: string): string {
  return submitter !== undefined ? `${id}@${submitter}` : `${id}@${createHash('sha256').update(replyTo).digest('hex').slice(0, 12)}`
}

/** The key duplicates are found by: per submitter, or per replyTo (the two never collide: a plain replyTo is never under fm/). */
export function dedupeKeyOf(submitter: string | undefined, id: string, replyTo: string): string {
  return `${submitter !== undefined ? topics.replies(submitter) : replyTo}\u0000${id}`
}
