import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { testBroker } from './test/support/test-broker.ts'
import { plainClient } from './test/support/mqtt-clients.ts'
spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-keyout', '/tmp/k.pem', '-out', '/tmp/c.pem', '-subj', '/CN=x', '-addext', 'subjectAltName=IP:127.0.0.1'])
const cert = readFileSync('/tmp/c.pem'), key = readFileSync('/tmp/k.pem')
console.log('starting')
const b = await testBroker({ tls: { cert, key }, allowAnonymous: true })
console.log('broker', b.url, b.wsUrl)
const c = await plainClient(b.url, { ca: cert })
console.log('mqtts ok')
await c.endAsync()
const w = await plainClient(b.wsUrl!, { ca: cert, noDelay: false })
console.log('wss ok')
await w.endAsync()
await b.close()
