/**
 * Every MQTT topic the mesh uses, in one place. The first four are the public
 * contract of docs/contract.md; the rest are the market's internal wire, versioned by
 * the same `fm/v1/` prefix.
 */
export const PREFIX = 'fm/v1'

export const topics = {
  /** Retained raw module bytes; publishing here deploys a module. */
  module: (sha256: string) => `${PREFIX}/modules/${sha256}`,
  /** Retained model file bytes (protocol/model-file.ts); publishing here deploys a model. */
  model: (sha256: string) => `${PREFIX}/models/${sha256}`,
  /** Plain-MQTT job submissions from sensors and scripts. */
  submit: `${PREFIX}/jobs/submit`,
  /** Submissions of the authenticated client `<name>` (access rules put the identity in the topic). */
  submitAs: (name: string) => `${PREFIX}/jobs/submit/${name}`,
  submitAsWildcard: `${PREFIX}/jobs/submit/+`,
  /** Where results for `<name>` go: `fm/v1/replies/<name>` and below. */
  replies: (name: string) => `${PREFIX}/replies/${name}`,
  /** Retained agent advertisement; the last will marks it offline. */
  presence: (agentId: string) => `${PREFIX}/agents/${agentId}/presence`,
  presenceWildcard: `${PREFIX}/agents/+/presence`,
  /** Non-retained liveness beat with the current load. */
  heartbeat: (agentId: string) => `${PREFIX}/agents/${agentId}/heartbeat`,
  heartbeatWildcard: `${PREFIX}/agents/+/heartbeat`,
  /** Assignments addressed to one agent. */
  agentJobs: (agentId: string) => `${PREFIX}/agents/${agentId}/jobs`,
  /** Payment vouchers addressed to one agent (they pay for the results it returned). */
  agentVouchers: (agentId: string) => `${PREFIX}/agents/${agentId}/vouchers`,
  /** Job offers to every agent (the auction's call for bids). */
  offers: `${PREFIX}/market/offers`,
  /** Job offers to one agent (a requester's pre-selected candidates, market/preselect.ts); agents whose presence says `directOffers`. */
  agentOffers: (agentId: string) => `${PREFIX}/agents/${agentId}/offers`,
  /** Stream jobs (standing jobs over a sensor topic) from plain MQTT clients; `/<name>` for authenticated ones. */
  streamSubmit: `${PREFIX}/streams/submit`,
  streamSubmitNamed: `${PREFIX}/streams/submit/+`,
  /** Retained: where a stream's windows were consumed up to (a takeover resumes from it). */
  streamState: (stream: string) => `${PREFIX}/streams/${stream}/state`,
  /** Stream starts and stops addressed to one agent. */
  agentStreams: (agentId: string) => `${PREFIX}/agents/${agentId}/streams`,
  /** Window results for the requester that placed the stream (it pays for them). */
  streamReceipts: (requesterId: string) => `${PREFIX}/requesters/${requesterId}/streams`,
  /** A requester's private inbox: bids and results come here. */
  inbox: (requesterId: string) => `${PREFIX}/requesters/${requesterId}/inbox`,
  /** Retained, signed: a gateway's keys (sensors verify what it forwards and seal jobs to it). */
  gatewayPresence: (gatewayId: string) => `${PREFIX}/gateways/${gatewayId}/presence`,
  gatewayPresenceWildcard: `${PREFIX}/gateways/+/presence`,
  /** Retained, signed OTA release manifest of one channel (fleet/release). */
  release: (channel: string) => `${PREFIX}/releases/${channel}`,
  /** Retained bytes of one release chunk, addressed by its sha256 (as modules are). */
  releaseBlob: (sha256: string) => `${PREFIX}/releases/blobs/${sha256}`,
  /** Retained bytes of one content-addressed blob piece (a chunk or a `fogmesh-blob/1` manifest), named by its sha256 (protocol/blobs/). */
  blob: (sha256: string) => `${PREFIX}/blobs/${sha256}`,
  /** A request for a blob or module piece whose retained copy is missing: holders re-publish it (agent/blob-holder.ts). */
  blobWant: (sha256: string) => `${PREFIX}/blobs/want/${sha256}`,
  blobWantWildcard: `${PREFIX}/blobs/want/+`,
} as const

const AGENT_TOPIC = /^fm\/v1\/agents\/([^/]+)\/(presence|heartbeat|jobs)$/

/** `fm/v1/agents/<id>/<kind>` → `{agentId, kind}`, or undefined for any other topic. */
export function parseAgentTopic(topic: string): { agentId: string; kind: 'presence' | 'heartbeat' | 'jobs' } | undefined {
  const m = AGENT_TOPIC.exec(topic)
  if (!m) return undefined
  return { agentId: m[1] as string, kind: m[2] as 'presence' | 'heartbeat' | 'jobs' }
}

/** The sha256 in `fm/v1/modules/<sha256>`, or undefined. */
export function parseModuleTopic(topic: string): string | undefined {
  const prefix = `${PREFIX}/modules/`
  if (!topic.startsWith(prefix)) return undefined
  const sha = topic.slice(prefix.length)
  return /^[0-9a-f]{64}$/.test(sha) ? sha : undefined
}
