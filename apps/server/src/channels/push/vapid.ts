import webPush from 'web-push'
import type { Db } from '../../database.ts'
import type { Clock } from '../../platform/clock.ts'
import type { Vault } from '../../platform/crypto.ts'
import type { VapidKeys } from '../adapters/push.ts'
import { findVapidKeys, insertVapidKeysIfAbsent, vapidRowId } from './push.store.ts'
import { withPushTables } from './push.table.ts'

// The installation's VAPID key pair (RFC 8292), made at first need and kept for good: every browser
// subscribed with its public key, so a new pair would silently end every subscription. The private key
// is kept in the vault. Two processes making it at once both insert; the first row wins and both read it.

export function createVapidKeys(deps: { database: Db; vault: Vault; clock: Clock }) {
  const db = withPushTables(deps.database.db)
  let loading: Promise<VapidKeys> | undefined

  async function load(): Promise<VapidKeys> {
    let row = await findVapidKeys(db)
    if (!row) {
      const made = webPush.generateVAPIDKeys()
      await insertVapidKeysIfAbsent(db, {
        id: vapidRowId,
        public_key: made.publicKey,
        private_key_encrypted: deps.vault.encrypt(made.privateKey),
        created_at: deps.clock.now(),
      })
      row = await findVapidKeys(db)
      if (!row) throw new Error('The VAPID keys were stored but cannot be read back.')
    }
    return { publicKey: row.public_key, privateKey: deps.vault.decrypt(row.private_key_encrypted) }
  }

  return {
    /** The key pair; read (or made) once per process, then kept in memory. */
    get(): Promise<VapidKeys> {
      loading ??= load().catch((error: unknown) => {
        loading = undefined
        throw error
      })
      return loading
    },
  }
}

export type VapidKeyStore = ReturnType<typeof createVapidKeys>
