import type { PushSubscribed, VapidPublicKey } from '@openorch/contracts'
import { useMutation } from '@tanstack/react-query'
import { useEffect, useId, useState } from 'react'
import { requestJson, useSignedIn } from '../lib/api.tsx'
import { useI18n } from '../lib/i18n.tsx'
import { Button, Card, ErrorNote } from './ui.tsx'

// "Enable notifications in this browser" (issue 14): asks the browser's permission, subscribes through
// the service worker (public/sw.js shows what arrives) with the installation's VAPID public key, and
// hands the subscription to the server, which makes it this browser's `push` channel. Bots are linked
// to that channel on their page like to any other. Turning it off forgets it on both sides.

type State = 'checking' | 'unsupported' | 'denied' | 'off' | 'on'

const supported = () =>
  typeof window !== 'undefined' &&
  'serviceWorker' in navigator &&
  'PushManager' in window &&
  'Notification' in window

/** The service worker's registration; registered here when the page has none yet (a dev build). */
async function registration(): Promise<ServiceWorkerRegistration> {
  const existing = await navigator.serviceWorker.getRegistration()
  if (!existing) await navigator.serviceWorker.register('/sw.js')
  return navigator.serviceWorker.ready
}

function bytesOf(base64url: string): Uint8Array<ArrayBuffer> {
  const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
  const bytes = new Uint8Array(new ArrayBuffer(binary.length))
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

const sameKey = (a: ArrayBuffer | null, b: Uint8Array) =>
  a !== null && a.byteLength === b.byteLength && new Uint8Array(a).every((byte, i) => byte === b[i])

export function PushToggle() {
  const { t } = useI18n()
  const signedIn = useSignedIn()
  const headingId = useId()
  const [state, setState] = useState<State>('checking')
  const [channelName, setChannelName] = useState('')

  useEffect(() => {
    let live = true
    if (!supported()) {
      setState('unsupported')
      return
    }
    if (Notification.permission === 'denied') {
      setState('denied')
      return
    }
    navigator.serviceWorker
      .getRegistration()
      .then((found) => found?.pushManager.getSubscription() ?? null)
      .then((subscription) => {
        if (live) setState(subscription && Notification.permission === 'granted' ? 'on' : 'off')
      })
      .catch(() => live && setState('off'))
    return () => {
      live = false
    }
  }, [])

  const enable = useMutation({
    mutationFn: async () => {
      const permission = await Notification.requestPermission()
      if (permission !== 'granted') return { permission }
      const { publicKey } = await requestJson<VapidPublicKey>(signedIn, 'GET', '/push/vapid-public-key')
      const key = bytesOf(publicKey)
      const worker = await registration()
      let subscription = await worker.pushManager.getSubscription()
      // Subscribed with another key (another installation at this address): start again with ours.
      if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
        await subscription.unsubscribe()
        subscription = null
      }
      subscription ??= await worker.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: key,
      })
      const subscribed = await requestJson<PushSubscribed>(
        signedIn,
        'POST',
        '/push/subscriptions',
        subscription.toJSON(),
      )
      return { permission, subscribed }
    },
    onSuccess: (result) => {
      if (result.permission === 'denied') setState('denied')
      else if (result.subscribed) {
        setChannelName(result.subscribed.channelName)
        setState('on')
      }
    },
  })

  const disable = useMutation({
    mutationFn: async () => {
      const worker = await navigator.serviceWorker.getRegistration()
      const subscription = await worker?.pushManager.getSubscription()
      if (!subscription) return
      await requestJson<void>(signedIn, 'DELETE', '/push/subscriptions', {
        endpoint: subscription.endpoint,
      }).catch((error: unknown) => {
        // Already forgotten by the server (the push service said it was gone): unsubscribe here too.
        if ((error as { status?: number }).status !== 404) throw error
      })
      await subscription.unsubscribe()
    },
    onSuccess: () => {
      setChannelName('')
      setState('off')
    },
  })

  return (
    <section aria-labelledby={headingId}>
      <Card className="space-y-3">
        <h2 id={headingId} className="text-xl font-semibold">
          {t('push.title')}
        </h2>
        <p className="text-sm text-slate-700 dark:text-slate-300">{t('push.intro')}</p>
        {state === 'unsupported' && <p className="text-sm">{t('push.unsupported')}</p>}
        {state === 'denied' && (
          <p className="text-sm" role="status">
            {t('push.denied')}
          </p>
        )}
        {state === 'on' && (
          <p className="text-sm" role="status">
            {channelName ? t('push.onAs', { name: channelName }) : t('push.on')}
          </p>
        )}
        {state === 'off' && (
          <Button variant="primary" busy={enable.isPending} onClick={() => enable.mutate()}>
            {t('push.enable')}
          </Button>
        )}
        {state === 'on' && (
          <Button busy={disable.isPending} onClick={() => disable.mutate()}>
            {t('push.disable')}
          </Button>
        )}
        <ErrorNote error={enable.error ?? disable.error} />
      </Card>
    </section>
  )
}
