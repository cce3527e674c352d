/**
 * Whether an agent may take a job: one rule, used by the agent (to decide
 * whether to bid) and by the requester (to know which bids to wait for).
 */
import type { JobConstraints, RequestedLimits, PresenceOnline } from './messages.ts'

export interface JobRequirements {
  constraints?: JobConstraints | undefined
  limits?: RequestedLimits | undefined
  maxPrice?: number | undefined
}

export type AgentTerms = Pick<PresenceOnline, 'id' | 'labels' | 'price' | 'limits'> & {
  capacity: Pick<PresenceOnline['capacity'], 'arch'>
}

/** Undefined when eligible, else a short reason. */
export function ineligibility(agent: AgentTerms, job: JobRequirements): string | undefined {
  const c = job.constraints
  if (c?.agents && !c.agents.includes(agent.id)) return 'not among the agents the job names'
  if (c?.arch && c.arch !== agent.capacity.arch) return `arch ${agent.capacity.arch} is not ${c.arch}`
  if (c?.labels) {
    for (const [k, v] of Object.entries(c.labels)) {
      if (agent.labels[k] !== v) return `label ${k} is not ${v}`
    }
  }
  if (job.maxPrice !== undefined && agent.price.perJob > job.maxPrice) return `price ${agent.price.perJob} above ${job.maxPrice}`
  return limitsAbove(agent.limits, job.limits)
}

/** The first job limit above what the agent offers, as `name above max`, or undefined. */
export function limitsAbove(max: AgentTerms['limits'], limits: RequestedLimits | undefined): string | undefined {
  if (!limits) return undefined
  for (const k of ['fuel', 'memoryMiB', 'timeoutMs', 'outputBytes'] as const) {
    const want = limits[k]
    if (want !== undefined && want > max[k]) return `limits.${k} ${want} above this agent's ${max[k]}`
  }
  return undefined
}
