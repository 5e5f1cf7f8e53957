// Where the local stack (stack/stack.sh) listens; override to test against your own services.
export const KAFKA_BROKERS = (process.env.FLOWCRAFT_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',')
export const CASSANDRA_CONTACT_POINTS = (process.env.FLOWCRAFT_CASSANDRA_CONTACT_POINTS ?? '127.0.0.1:9042').split(',')
/** The certificate the local stack's Cassandra presents on its (optional) TLS port. */
export const CASSANDRA_CA = process.env.FLOWCRAFT_CASSANDRA_CA ?? `${__dirname}/../../stack/.data/cassandra/tls/ca.pem`
export const REDIS_URL = process.env.FLOWCRAFT_REDIS_URL ?? 'redis://127.0.0.1:6379'
/** The local stack's Redis TLS port (`host:port`). */
export const REDIS_TLS_ADDRESS = process.env.FLOWCRAFT_REDIS_TLS_ADDRESS ?? '127.0.0.1:6380'
const REDIS_TLS_DIR = process.env.FLOWCRAFT_REDIS_TLS_DIR ?? `${__dirname}/../../stack/.data/redis/tls`
/** PEM files and the ACL user of the stack's Redis TLS port (stack/stack.sh makes them). */
export const REDIS_TLS = {
  ca: `${REDIS_TLS_DIR}/ca.pem`,
  cert: `${REDIS_TLS_DIR}/client.pem`,
  key: `${REDIS_TLS_DIR}/client.key`,
  serverCert: `${REDIS_TLS_DIR}/server.pem`,
  serverKey: `${REDIS_TLS_DIR}/server.key`,
  user: process.env.FLOWCRAFT_REDIS_TLS_USER ?? 'flowcraft-tls',
  password: process.env.FLOWCRAFT_REDIS_TLS_PASSWORD ?? 'flowcraft-tls-password',
}

/** A loopback port nothing listens on, for the "unreachable" cases. */
export const UNUSED_PORT = 1

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
}
