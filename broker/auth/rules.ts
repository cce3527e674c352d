/**
 * Who may publish and subscribe where: one table, read by the broker's
 * `authorizePublish` / `authorizeSubscribe` hooks and written out as a
 * Mosquitto `acl_file` by `fogmesh auth export`, so the two cannot drift.
 *
 * `%u` stands for the identity: a user's name, or an agent's id. The identity
 * is in the topic, so one rule covers every sensor (`fm/v1/jobs/submit/%u`),
 * as Mosquitto's `%u` patterns do. `OPEN_SPACE` stands for every topic outside
 * `fm/` and `$`: the topics of plain MQTT clients (a legacy job's `replyTo`,
 * `demo/results`), which only the fogmesh broker can express.
 *
 * Retained publishes, empty ones (a delete) and last wills are publishes like
 * any other: they follow the same rules.
 */
import type { Role } from './credentials.ts'

/** Every topic outside `fm/` and not starting with `$`. */
export const OPEN_SPACE = '<open space>'

export interface RuleSet {
  /** Topic filters (MQTT wildcards) the identity may publish to. */
  publish: readonly string[]
  /** Topic filters the identity may subscribe to (a subscription must lie inside one of them). */
  subscribe: readonly string[]
}

export type IdentityKind = Role | 'agent' | 'anonymous'

const PRESENCE_READ = ['fm/v1/agents/+/presence', 'fm/v1/agents/+/heartbeat']
/**
 * A gateway's retained, signed keys (its id derives from its key, so no `%u`): gateways write them,
 * sensors read them to verify what a gateway forwards and to seal jobs to it.
 */
const GATEWAY_PRESENCE = 'fm/v1/gateways/+/presence'
/** Every authenticated identity reads the replies addressed to it. */
const OWN_REPLIES = 'fm/v1/replies/%u/#'
/**
 * Content-addressed pieces (protocol/blobs/): every reader checks them against their name, so a
 * wrong copy costs a fetch from another holder, never a wrong input. Wants ask holders for a piece.
 */
const BLOBS = 'fm/v1/blobs/+'
const BLOB_WANTS = 'fm/v1/blobs/want/+'

export const RULES: Record<IdentityKind, RuleSet> = {
  /**
   * An admitted agent: its own topics, and the requesters' inboxes (bids, results, voucher acks,
   * stream window receipts), a stream's retained state. Reads the modules, models and stream sources
   * (the open space and bridges' topics). A stream's results go to its `replyTo`: the fogmesh broker
   * grants that one topic to the agent a gateway started the stream on (stream-grants.ts).
   */
  agent: {
    // telemetry: the console's topics (its own counts and settlements, in its name)
    // blobs: it fetches job inputs, asks holders, and re-publishes the pieces it caches
    publish: ['fm/v1/agents/%u/#', 'fm/v1/requesters/+/inbox', 'fm/v1/requesters/+/streams', 'fm/v1/streams/+/state', 'fm/v1/telemetry/agents/%u', 'fm/v1/telemetry/settlements/%u', BLOBS, BLOB_WANTS],
    subscribe: ['fm/v1/agents/%u/#', 'fm/v1/market/offers', 'fm/v1/modules/+', 'fm/v1/models/+', 'fm/v1/releases/#', 'fm/v1/streams/+/state', 'fm/v1/bridge/#', OPEN_SPACE, OWN_REPLIES, BLOBS, BLOB_WANTS],
  },
  /**
   * A device that submits jobs (and standing stream jobs) in its own name and reads its own results;
   * a firmware bridge named after it publishes readings and reads commands under `fm/v1/bridge/<name>/`.
   */
  sensor: {
    // Sparkplug B as that bridge's edge node: the node id is the name (births, data, deaths; commands in)
    // blobs: the input of a job it names by sha256
    publish: ['fm/v1/jobs/submit/%u', 'fm/v1/streams/submit/%u', 'fm/v1/bridge/%u/#', 'spBv1.0/+/+/%u', 'spBv1.0/+/+/%u/+', BLOBS],
    subscribe: [OWN_REPLIES, 'fm/v1/bridge/%u/#', 'spBv1.0/+/NCMD/%u', 'spBv1.0/+/DCMD/%u/+', GATEWAY_PRESENCE],
  },
  /** A requester for others: reads submissions, runs the market (offers, assignments, vouchers), answers. */
  gateway: {
    publish: [
      'fm/v1/replies/#', 'fm/v1/market/offers', 'fm/v1/agents/+/offers', 'fm/v1/agents/+/jobs', 'fm/v1/agents/+/vouchers', 'fm/v1/agents/+/streams', 'fm/v1/streams/+/state',
      // a stream aimed at a bridge's command topic is answered there when it cannot be placed
      'fm/v1/bridge/#', 'fm/v1/telemetry/jobs/%u', 'fm/v1/telemetry/stats/%u', GATEWAY_PRESENCE, OPEN_SPACE,
      // large inputs it publishes as blobs; wants for a named input's manifest
      BLOBS, BLOB_WANTS,
    ],
    subscribe: [BLOBS, 'fm/v1/jobs/submit', 'fm/v1/jobs/submit/+', 'fm/v1/streams/submit', 'fm/v1/streams/submit/+', ...PRESENCE_READ, 'fm/v1/requesters/%u/inbox', 'fm/v1/requesters/%u/streams', GATEWAY_PRESENCE, OWN_REPLIES],
  },
  /** Deploys and deletes modules, models and releases. */
  deployer: {
    publish: ['fm/v1/modules/+', 'fm/v1/models/+', 'fm/v1/releases/#', BLOBS],
    subscribe: ['fm/v1/modules/+', 'fm/v1/models/+', 'fm/v1/releases/#', BLOBS, ...PRESENCE_READ, OWN_REPLIES],
  },
  /** Watches everything, changes nothing (but the console's alerts). */
  operator: {
    publish: ['fm/v1/telemetry/alerts'],
    subscribe: ['#', '$SYS/#', OWN_REPLIES],
  },
  /**
   * A client without credentials, where the broker takes them (`fogmesh up`, or `--anonymous local`
   * on a broker with --auth): today's plain-MQTT job path and the open topics, nothing of the mesh.
   */
  anonymous: {
    publish: ['fm/v1/jobs/submit', 'fm/v1/streams/submit', BLOBS, OPEN_SPACE],
    subscribe: [...PRESENCE_READ, GATEWAY_PRESENCE, 'fm/v1/telemetry/#', OPEN_SPACE],
  },
}

/** The rules of one identity, `%u` replaced by its name or id. */
export function rulesFor(kind: IdentityKind, name: string): RuleSet {
  const sub = (f: string) => f.replaceAll('%u', name)
  const r = RULES[kind]
  return { publish: r.publish.map(sub), subscribe: r.subscribe.map(sub) }
}

export function canPublish(rules: RuleSet, topic: string): boolean {
  if (topic.startsWith('$')) return false
  for (const f of rules.publish) {
    if (f === OPEN_SPACE ? isOpenSpace(topic) : filterMatches(f, topic)) return true
  }
  return false
}

export function canSubscribe(rules: RuleSet, filter: string): boolean {
  for (const f of rules.subscribe) {
    if (f === OPEN_SPACE ? isOpenSpaceFilter(filter) : filterCovers(f, filter)) return true
  }
  return false
}

/** Whether `topic` is outside the mesh's namespace and not a `$` topic. */
export function isOpenSpace(topic: string): boolean {
  return topic.length > 0 && !topic.startsWith('$') && topic !== 'fm' && !topic.startsWith('fm/')
}

/** Whether every topic `filter` can match is in the open space (its first level is a literal other than `fm`). */
function isOpenSpaceFilter(filter: string): boolean {
  const first = filter.split('/', 1)[0] ?? ''
  return first !== '' && first !== '+' && first !== '#' && first !== 'fm' && !first.startsWith('$')
}

/** MQTT matching of a concrete topic against a filter; wildcards at the first level never match `$` topics. */
export function filterMatches(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false
  const f = filter.split('/')
  const t = topic.split('/')
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true
    if (i >= t.length) return false
    if (f[i] !== '+' && f[i] !== t[i]) return false
  }
  return f.length === t.length
}

/** Whether every topic that `inner` can match is matched by `outer` (a subscription inside an allowed filter). */
export function filterCovers(outer: string, inner: string): boolean {
  if (inner.startsWith('$') && (outer.startsWith('+') || outer.startsWith('#'))) return false
  const o = outer.split('/')
  const n = inner.split('/')
  for (let i = 0; i < o.length; i++) {
    if (o[i] === '#') return true
    if (i >= n.length) return false
    if (n[i] === '#') return false
    if (o[i] === '+') continue
    if (o[i] !== n[i]) return false
  }
  return o.length === n.length
}
