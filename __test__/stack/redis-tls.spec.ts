// Redis over TLS with an ACL user, on the local stack's TLS port (stack/stack.sh makes the
// certificates and the user). A recording proxy in front of the port shows what goes over
// the wire: a TLS handshake and no cleartext AUTH, where the plain port shows the password.
import { promises as dns } from 'node:dns'
import * as fs from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as tls from 'node:tls'

import { KafkaAdapter, RedisCoordinationStore } from '../../index'
import type { RedisConfig } from '../../index'
import { rejection, thrown } from '../support/caught'
import { stackOptions, uniqueSuffix } from './kafka/stack-options'
import { REDIS_TLS, REDIS_TLS_ADDRESS, REDIS_URL, uniqueName } from './services'

// eslint-disable-next-line @typescript-eslint/no-require-imports
const fanOutWorkflow = require('./kafka/fan-out-workflow.js')

interface Address {
  host: string
  port: number
}

const TLS_PORT: Address = (() => {
  const at = REDIS_TLS_ADDRESS.lastIndexOf(':')
  return { host: REDIS_TLS_ADDRESS.slice(0, at), port: Number(REDIS_TLS_ADDRESS.slice(at + 1)) }
})()
const PLAIN_PORT: Address = (() => {
  const url = new URL(REDIS_URL)
  return { host: url.hostname, port: Number(url.port || 6379) }
})()
const USER = encodeURIComponent(REDIS_TLS.user)
const PASSWORD = encodeURIComponent(REDIS_TLS.password)

interface Recorder {
  port: number
  /** What the clients sent, one buffer per connection. */
  connections(): Buffer[]
  /** Everything the clients sent. */
  sent(): Buffer
  close(): Promise<void>
}

/** A TCP proxy to `target` that records what clients send. */
async function recordingProxy(target: Address, listenHost = '127.0.0.1'): Promise<Recorder> {
  const connections: Buffer[][] = []
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const chunks: Buffer[] = []
    connections.push(chunks)
    const upstream = net.connect(target.port, target.host)
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.on('close', () => {
        sockets.delete(socket)
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', (chunk: Buffer) => chunks.push(Buffer.from(chunk)))
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, listenHost, resolve)
  })
  return {
    port: (server.address() as net.AddressInfo).port,
    connections: () => connections.map((chunks) => Buffer.concat(chunks)),
    sent: () => Buffer.concat(connections.flat()),
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** The coordination commands, end to end, on a fresh key. Returns the key. */
async function exercise(store: RedisCoordinationStore): Promise<string> {
  const key = uniqueName('flowcraft:tls-test')
  expect(await store.ping()).toBe('PONG')
  expect(await store.setIfNotExist(key, 'first', 60)).toBe(true)
  expect(await store.setIfNotExist(key, 'second', 60)).toBe(false)
  expect(await store.get(key)).toBe('first')
  expect(await store.increment(`${key}:n`, 60)).toBe(1)
  expect(await store.extendTTL(key, 120)).toBe(true)
  await store.delete(key)
  await store.delete(`${key}:n`)
  expect(await store.get(key)).toBeUndefined()
  return key
}

describe('Redis over TLS with an ACL user', () => {
  test('rediss:// with a password: the socket carries a TLS handshake and no cleartext AUTH', async () => {
    const proxy = await recordingProxy(TLS_PORT)
    const store = new RedisCoordinationStore({
      url: `rediss://${USER}:${PASSWORD}@127.0.0.1:${proxy.port}`,
      tls: { caLocation: REDIS_TLS.ca },
    })
    let key: string
    try {
      key = await exercise(store)
    } finally {
      await store.close()
      await proxy.close()
    }
    const sent = proxy.sent()
    expect(proxy.connections().length).toBeGreaterThan(0)
    for (const connection of proxy.connections()) expect(connection[0]).toBe(0x16) // a TLS handshake record
    expect(sent.includes('AUTH')).toBe(false)
    expect(sent.includes(REDIS_TLS.password)).toBe(false)
    expect(sent.includes(REDIS_TLS.user)).toBe(false)
    expect(sent.includes(key)).toBe(false)

    // The same user on the plain port, for contrast: the capture shows the password.
    const clear = await recordingProxy(PLAIN_PORT)
    const plainStore = new RedisCoordinationStore({ url: `redis://${USER}:${PASSWORD}@127.0.0.1:${clear.port}` })
    try {
      expect(await plainStore.ping()).toBe('PONG')
    } finally {
      await plainStore.close()
      await clear.close()
    }
    const cleartext = clear.sent().toString('latin1')
    expect(cleartext).toContain('AUTH')
    expect(cleartext).toContain(REDIS_TLS.password)
  })

  test('the tls option on a redis:// URL, with a client certificate and the credentials as options', async () => {
    const store = new RedisCoordinationStore({
      url: `redis://${REDIS_TLS_ADDRESS}`,
      tls: { caLocation: REDIS_TLS.ca, certLocation: REDIS_TLS.cert, keyLocation: REDIS_TLS.key },
      username: REDIS_TLS.user,
      password: REDIS_TLS.password,
    })
    try {
      await exercise(store)
    } finally {
      await store.close()
    }
  })

  test('the client certificate is presented: a server that requires one accepts it and refuses a client without', async () => {
    // Terminates TLS, requires a client certificate from the stack's CA, forwards to the plain port.
    const peers: string[] = []
    const upstreams = new Set<net.Socket>()
    const server = tls.createServer(
      {
        cert: fs.readFileSync(REDIS_TLS.serverCert),
        key: fs.readFileSync(REDIS_TLS.serverKey),
        ca: fs.readFileSync(REDIS_TLS.ca),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => {
        peers.push(String(socket.getPeerCertificate().subject?.CN))
        const upstream = net.connect(PLAIN_PORT.port, PLAIN_PORT.host)
        upstreams.add(upstream)
        for (const s of [socket, upstream]) {
          s.on('error', () => undefined)
          s.on('close', () => {
            socket.destroy()
            upstream.destroy()
            upstreams.delete(upstream)
          })
        }
        socket.pipe(upstream)
        upstream.pipe(socket)
      },
    )
    server.on('tlsClientError', () => undefined)
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as net.AddressInfo).port
    try {
      const store = new RedisCoordinationStore({
        url: `redis://127.0.0.1:${port}`,
        tls: { caLocation: REDIS_TLS.ca, certLocation: REDIS_TLS.cert, keyLocation: REDIS_TLS.key },
      })
      try {
        expect(await store.ping()).toBe('PONG')
      } finally {
        await store.close()
      }
      expect(peers).toEqual(['flowcraft-tls-client'])

      const withoutCertificate = new RedisCoordinationStore({
        url: `redis://127.0.0.1:${port}`,
        tls: { caLocation: REDIS_TLS.ca },
        connectTimeoutMs: 3000,
      })
      const error = await rejection(withoutCertificate.ping())
      expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
      await withoutCertificate.close()
      expect(peers).toEqual(['flowcraft-tls-client'])
    } finally {
      for (const upstream of upstreams) upstream.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  test('rejectUnauthorized: false connects without the CA', async () => {
    const store = new RedisCoordinationStore({
      url: `rediss://${USER}:${PASSWORD}@${REDIS_TLS_ADDRESS}`,
      tls: { rejectUnauthorized: false },
    })
    try {
      expect(await store.ping()).toBe('PONG')
    } finally {
      await store.close()
    }
  })
})

describe('Redis TLS failures are named', () => {
  test('a server signed by a CA not trusted (the system store only) is refused', async () => {
    for (const options of [
      { url: `rediss://${USER}:${PASSWORD}@${REDIS_TLS_ADDRESS}` },
      { url: `redis://${REDIS_TLS_ADDRESS}`, tls: true, username: REDIS_TLS.user, password: REDIS_TLS.password },
    ]) {
      const store = new RedisCoordinationStore({ ...options, connectTimeoutMs: 5000 })
      const error = await rejection(store.ping())
      expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
      expect(error.message).toMatch(/certificate verify failed|unable to get local issuer/)
      expect(error.message).not.toContain(REDIS_TLS.password)
      await store.close()
    }
  })

  test('an address or a name the certificate was not made for is refused', async () => {
    // The certificate is for IP 127.0.0.1 and DNS localhost: 127.0.0.2 is another address.
    const other = await recordingProxy(TLS_PORT, '127.0.0.2')
    try {
      const store = new RedisCoordinationStore({
        url: `rediss://${USER}:${PASSWORD}@127.0.0.2:${other.port}`,
        tls: { caLocation: REDIS_TLS.ca },
        connectTimeoutMs: 5000,
      })
      const error = await rejection(store.ping())
      expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
      expect(error.message).toMatch(/IP address mismatch|hostname mismatch|certificate/)
      await store.close()
    } finally {
      await other.close()
    }

    // This machine's host name, where it resolves (to a loopback or local address).
    const hostname = os.hostname()
    const resolved = await dns.lookup(hostname).catch(() => undefined)
    if (hostname === 'localhost' || resolved === undefined) {
      console.log(`host name ${hostname} does not resolve to another name than localhost: name check skipped`)
      return
    }
    const byName = await recordingProxy(TLS_PORT, resolved.address)
    try {
      const store = new RedisCoordinationStore({
        url: `rediss://${USER}:${PASSWORD}@${hostname}:${byName.port}`,
        tls: { caLocation: REDIS_TLS.ca },
        connectTimeoutMs: 5000,
      })
      const error = await rejection(store.ping())
      expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
      expect(error.message).toMatch(/hostname mismatch|certificate/)
      await store.close()
    } finally {
      await byName.close()
    }
  })

  test('a wrong password is refused by Redis and never shown', async () => {
    const wrong = 'not-the-password-7f3a'
    for (const options of [
      { url: `rediss://${USER}:${wrong}@${REDIS_TLS_ADDRESS}`, tls: { caLocation: REDIS_TLS.ca } },
      { url: `rediss://${REDIS_TLS_ADDRESS}`, tls: { caLocation: REDIS_TLS.ca }, username: REDIS_TLS.user, password: wrong },
    ]) {
      const store = new RedisCoordinationStore({ ...options, connectTimeoutMs: 5000 })
      const error = await rejection(store.ping())
      expect(error.code).toBe('ERR_REDIS_UNREACHABLE')
      expect(error.message).toMatch(/WRONGPASS/)
      expect(error.message).not.toContain(wrong)
      await store.close()
    }
  })

  test('bad TLS settings are refused before connecting, naming the option and the file', async () => {
    const missing = '/nonexistent/flowcraft/redis-ca.pem'
    const store = new RedisCoordinationStore({
      url: `rediss://${USER}:${PASSWORD}@${REDIS_TLS_ADDRESS}`,
      tls: { caLocation: missing },
    })
    const error = await rejection(store.ping())
    expect(error.code).toBe('ERR_REDIS_CONFIG')
    expect(error.message).toContain(`redis.tls.caLocation ${missing}: cannot read`)
    expect(error.message).not.toContain(REDIS_TLS.password)

    const certOnly = await rejection(
      new RedisCoordinationStore({ url: `rediss://${REDIS_TLS_ADDRESS}`, tls: { caLocation: REDIS_TLS.ca, certLocation: REDIS_TLS.cert } }).ping(),
    )
    expect(certOnly.code).toBe('ERR_REDIS_CONFIG')
    expect(certOnly.message).toContain('redis.tls.certLocation is given without redis.tls.keyLocation')

    const userOnly = await rejection(new RedisCoordinationStore({ url: `rediss://${REDIS_TLS_ADDRESS}`, username: REDIS_TLS.user }).ping())
    expect(userOnly.code).toBe('ERR_REDIS_CONFIG')
    expect(userOnly.message).toContain(`redis user '${REDIS_TLS.user}' has no password`)
  })

  test('a wrong type names the field', () => {
    const make = (options: unknown) => () => new RedisCoordinationStore(options as RedisConfig)
    expect(thrown(make({ tls: { caLocation: 5 } })).message).toMatch(/redis\.tls\.caLocation must be a string, not number/)
    expect(thrown(make({ tls: { rejectUnauthorized: 'no' } })).message).toMatch(/redis\.tls\.rejectUnauthorized must be a boolean, not string/)
    expect(thrown(make({ tls: { ca: 'pem text' } })).message).toMatch(/redis\.tls\.ca is not an option/)
    expect(thrown(make({ tls: 'yes' })).message).toMatch(/redis\.tls must be true, false or \{/)
    expect(thrown(make({ password: 42 })).message).toMatch(/password/)
  })
})

test('a KafkaAdapter whose coordination goes over TLS as the ACL user completes its runs', async () => {
  const proxy = await recordingProxy(TLS_PORT)
  const options = stackOptions(fanOutWorkflow, uniqueSuffix(), {
    coordinationStore: {
      url: `rediss://127.0.0.1:${proxy.port}`,
      tls: { caLocation: REDIS_TLS.ca },
      username: REDIS_TLS.user,
      password: REDIS_TLS.password,
    },
  })
  const adapter = new KafkaAdapter(options)
  let runId: string
  try {
    await adapter.start()
    const result = await adapter.run('fan-out-40', {}, { timeoutMs: 60000 })
    runId = result.runId
    expect(result.status).toBe('completed')
    expect(result.context['_outputs.join']).toEqual({ keys: fanOutWorkflow.BRANCHES })
  } finally {
    await adapter.stop()
    await proxy.close()
  }
  const sent = proxy.sent()
  expect(proxy.connections().length).toBeGreaterThan(0)
  for (const connection of proxy.connections()) expect(connection[0]).toBe(0x16)
  expect(sent.includes('AUTH')).toBe(false)
  expect(sent.includes(REDIS_TLS.password)).toBe(false)
  expect(sent.includes(runId)).toBe(false)
}, 120000)
