/**
 * Sparkplug B topic namespace: `spBv1.0/<group>/<type>/<edge node>[/<device>]`.
 */
export const NAMESPACE = 'spBv1.0'

export type NodeMessageType = 'NBIRTH' | 'NDEATH' | 'NDATA' | 'NCMD'
export type DeviceMessageType = 'DBIRTH' | 'DDEATH' | 'DDATA' | 'DCMD'

export const sparkplugTopics = {
  node: (group: string, type: NodeMessageType, node: string) => `${NAMESPACE}/${group}/${type}/${node}`,
  device: (group: string, type: DeviceMessageType, node: string, device: string) => `${NAMESPACE}/${group}/${type}/${node}/${device}`,
}

/** Group, node and device ids: UTF-8 without the MQTT separators and wildcards (Sparkplug 3.0 §4.1.1). */
export const SPARKPLUG_ID = /^[^/+#]{1,64}$/

/** The metric a host sets to true in an NCMD to ask for births again. */
export const REBIRTH_METRIC = 'Node Control/Rebirth'
