/**
 * The signed control plane holds on any broker, ACLs or not: the attack rows
 * of test/control-plane.test.ts that an outsider plays on the wire (presence
 * clears, forged inbox and replyTo results, assignments straight to an agent,
 * replays) against Debian's Mosquitto, anonymous, with no ACL file — and the
 * next honest job succeeds. Mosquitto is required under CI (the test fails
 * without it, as .ci/run installs it).
 */
process.env.FM_CONTROL_PLANE_BROKER = 'mosquitto'
await import('./control-plane.test.ts')
