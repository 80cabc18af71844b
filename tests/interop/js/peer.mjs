// A js-libp2p node (npm `libp2p` 3 with `@libp2p/gossipsub`) for the interop test in
// tests/tests/js_interop.rs. It knows me2b only from what another implementation would read:
// the .proto schema in proto/schema, the signature domain strings and the message-id rule of
// docs/PROTOCOL.md. Nothing here is shared with the Rust code.
//
// It reads one JSON command per line on stdin and writes one JSON event per line on stdout:
//   {"cmd":"dial","addr":MULTIADDR}            -> {"event":"connected"|"dial-failed",...}
//   {"cmd":"subscribe","topic":T}              -> {"event":"subscribed","topic":T}
//   {"cmd":"publish-request","topic":T,"category":C,"name":N}
//                                              -> {"event":"published","msg_id":HEX}
//   {"cmd":"publish-garbage","topic":T,"count":K,"size":BYTES}
//                                              -> {"event":"published-garbage","count":K}
//   {"cmd":"stop"}
// and on its own: {"event":"ready",...}, {"event":"message",...} for every message gossip
// hands it (with whether its me2b signature verified), {"event":"disconnected",...}.
//
// With `heartbeats`, it also says {"event":"heartbeat"} after each gossipsub heartbeat.
//
// Usage: node --import ./node20.mjs peer.mjs SCHEMA_DIR LISTEN_IP [OPTIONS_JSON], where the
// options are `meshless` (a mesh of no peers: it forwards nothing itself and only gossips IHAVE,
// so what its peers fetch from it is what they ask for with IWANT), `otherIds` (another message
// id rule than docs/PROTOCOL.md's: the control for the duplicates test; js-libp2p's own default
// for unsigned messages is the same SHA-256 of the data, so it cannot serve) and `heartbeats`.

import { createHash, randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import path from 'node:path'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { gossipsub } from '@libp2p/gossipsub'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import protobuf from 'protobufjs'

const [schemaDir, listenIp, optionsJson] = process.argv.slice(2)
const options = JSON.parse(optionsJson ?? '{}')
const say = (event) => process.stdout.write(JSON.stringify(event) + '\n')
const hex = (bytes) => Buffer.from(bytes).toString('hex')

// The schema, as another implementation would load it.
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => path.join(schemaDir, target)
root.loadSync(['me2b/v1/envelope.proto', 'me2b/v1/gossip.proto'], { keepCase: true })
const SignedEnvelope = root.lookupType('me2b.v1.SignedEnvelope')
const Envelope = root.lookupType('me2b.v1.Envelope')
const DataRequest = root.lookupType('me2b.v1.DataRequest')
const KIND_DATA_REQUEST = 1
const DOMAIN_DATA_REQUEST = Buffer.from('me2b/v1/sig/data-request\0', 'utf8')

// The message id of docs/PROTOCOL.md: SHA-256 of the message's data.
const messageId = (msg) => new Uint8Array(createHash('sha256').update(msg.data).digest())
const otherId = (msg) => new Uint8Array(createHash('sha256').update('other').update(msg.data).digest())

// The me2b signing key: ed25519, separate from the libp2p key as any business may do.
const signer = await generateKeyPair('Ed25519')

const node = await createLibp2p({
  addresses: { listen: [`/ip4/${listenIp}/tcp/0`] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({
      msgIdFn: options.otherIds ? otherId : messageId,
      ...(options.meshless ? { D: 0, Dlo: 0, Dhi: 0, Dout: 0, Dlazy: 6 } : {}),
      // me2b gossip carries no author: the me2b envelope inside is what is signed.
      globalSignaturePolicy: 'StrictNoSign',
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
      heartbeatInterval: 200
    })
  }
})
const pubsub = node.services.pubsub

// Opens a me2b data request: the envelope's kind, its ed25519 signature over the domain
// string followed by the envelope bytes, then the payload.
async function openRequest (data) {
  const signed = SignedEnvelope.decode(data)
  const envelope = Envelope.decode(signed.envelope)
  if (envelope.kind !== KIND_DATA_REQUEST) return { valid: false, error: `kind ${envelope.kind}` }
  const key = publicKeyFromRaw(envelope.sender)
  const ok = await key.verify(Buffer.concat([DOMAIN_DATA_REQUEST, signed.envelope]), signed.signature)
  if (!ok) return { valid: false, error: 'bad signature' }
  const request = DataRequest.decode(envelope.payload)
  return { valid: true, business_name: request.business_name, category: request.category }
}

pubsub.addEventListener('gossipsub:message', async (evt) => {
  const { msg, msgId, propagationSource } = evt.detail
  let opened
  try {
    opened = await openRequest(msg.data)
  } catch (error) {
    opened = { valid: false, error: String(error) }
  }
  say({ event: 'message', topic: msg.topic, msg_id: hex(messageId(msg)), gossip_id: hex(Buffer.from(msgId, 'base64')), from: propagationSource.toString(), ...opened })
})
pubsub.addEventListener('subscription-change', (evt) => {
  for (const sub of evt.detail.subscriptions) {
    say({ event: 'peer-subscription', peer: evt.detail.peerId.toString(), topic: sub.topic, subscribe: sub.subscribe })
  }
})
if (options.heartbeats) pubsub.addEventListener('gossipsub:heartbeat', () => say({ event: 'heartbeat' }))
node.addEventListener('peer:disconnect', (evt) => say({ event: 'disconnected', peer: evt.detail.toString() }))

function dataRequest (category, name) {
  const now = Date.now()
  const payload = DataRequest.encode(DataRequest.create({
    id: randomBytes(16),
    category,
    business_name: name,
    description: 'running shoes from another implementation',
    terms: {
      fields: [{ path: 'body.shoe_size_eu', required: true, raw: {} }],
      purpose: 2, // PURPOSE_PERSONALISED_OFFERS
      retention_ms: 30 * 24 * 3600 * 1000,
      use: { one_time: {} },
      onward_sharing: false,
      compensation: { discount: { percent: 10 } },
      jurisdiction: 'EU',
      expires_at_ms: now + 3600 * 1000
    }
  })).finish()
  const envelope = Envelope.encode(Envelope.create({
    kind: KIND_DATA_REQUEST,
    sender: signer.publicKey.raw,
    recipient: new Uint8Array(0),
    nonce: randomBytes(16),
    issued_at_ms: now,
    expires_at_ms: now + 3600 * 1000,
    payload
  })).finish()
  return { envelope, payload }
}

async function run (command) {
  switch (command.cmd) {
    case 'dial':
      try {
        const connection = await node.dial(multiaddr(command.addr), { signal: AbortSignal.timeout(10000) })
        say({ event: 'connected', peer: connection.remotePeer.toString() })
      } catch (error) {
        say({ event: 'dial-failed', error: String(error) })
      }
      break
    case 'subscribe':
      pubsub.subscribe(command.topic)
      say({ event: 'subscribed', topic: command.topic })
      break
    case 'publish-request': {
      const { envelope } = dataRequest(command.category, command.name)
      const signature = await signer.sign(Buffer.concat([DOMAIN_DATA_REQUEST, envelope]))
      const data = SignedEnvelope.encode(SignedEnvelope.create({ envelope, signature })).finish()
      await pubsub.publish(command.topic, data)
      say({ event: 'published', msg_id: hex(messageId({ data })) })
      break
    }
    case 'publish-garbage':
      for (let i = 0; i < command.count; i++) {
        await pubsub.publish(command.topic, randomBytes(command.size ?? 64))
      }
      say({ event: 'published-garbage', count: command.count })
      break
    case 'stop':
      await node.stop()
      process.exit(0)
  }
}

say({ event: 'ready', peer: node.peerId.toString(), addrs: node.getMultiaddrs().map(String) })
const lines = createInterface({ input: process.stdin })
let queue = Promise.resolve()
lines.on('line', (line) => {
  let command
  try {
    command = JSON.parse(line)
  } catch {
    say({ event: 'error', error: `not JSON: ${line}` })
    return
  }
  queue = queue.then(() => run(command)).catch((error) => say({ event: 'error', error: String(error) }))
})
lines.on('close', async () => {
  await node.stop()
  process.exit(0)
})
