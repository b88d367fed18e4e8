import { type Channel, type TelegramInbound, telegramInboundModes } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useEffect, useId, useState } from 'react'
import { useSignedIn } from '../lib/api.tsx'
import { channelsApi, type TelegramInboundMode } from '../lib/channels-api.ts'
import { formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Button, ErrorNote, Field, TextInput } from './ui.tsx'

// A Telegram channel's inbound side (issue 14) on its card: how messages to the bot reach this
// installation (off, polling, webhook), the last one handled, and the chats people linked. Admins
// switch the mode in the channel's edit view (a webhook is registered with Telegram at the address
// given, this page's origin unless changed) and unlink anyone's chat; a person unlinks their own.

export const telegramKey = (channelId: string) => ['telegram', channelId] as const

export function useTelegramInbound(channelId: string, refetchInterval: number | false = false) {
  const api = channelsApi(useSignedIn())
  return useQuery({
    queryKey: telegramKey(channelId),
    queryFn: () => api.telegram(channelId),
    refetchInterval,
  })
}

/** `editing`: the channel's edit view is open, where admins switch the mode. */
export function TelegramInboundPanel({ channel, editing }: { channel: Channel; editing: boolean }) {
  const { t, lang } = useI18n()
  const signedIn = useSignedIn()
  const api = channelsApi(signedIn)
  const queryClient = useQueryClient()
  const headingId = useId()
  const canAdmin = mayOffer(useMyRole(), 'admin')
  const myId = signedIn.session.kind === 'jwt' ? signedIn.session.user.id : undefined
  const state = useTelegramInbound(channel.id)
  // Admins see whose chat it is; for others the list has their own and ids only.
  const users = useQuery({
    queryKey: ['users'],
    queryFn: () => signedIn.client.users.list({ limit: 100 }),
    enabled: canAdmin && (state.data?.linkedChats.length ?? 0) > 0,
    retry: false,
  })
  const emails = new Map((users.data?.items ?? []).map((user) => [user.id, user.email]))
  const [unlinked, setUnlinked] = useState('')
  const unlink = useMutation({
    mutationFn: (chatId: string) => api.unlinkTelegramChat(channel.id, chatId),
    onMutate: () => setUnlinked(''),
    onSuccess: (_, chatId) => {
      setUnlinked(t('channels.inbound.unlinked', { chatId }))
      void queryClient.invalidateQueries({ queryKey: telegramKey(channel.id) })
    },
  })
  const data = state.data
  return (
    <section
      aria-labelledby={headingId}
      className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700"
      data-testid="telegram-inbound"
    >
      <h3 id={headingId} className="font-medium">
        {t('channels.inbound.title')}
      </h3>
      <p className="text-sm text-slate-700 dark:text-slate-300">{t('channels.inbound.intro')}</p>
      <ErrorNote error={state.error} />
      {data && (
        <>
          <dl className="grid gap-x-6 gap-y-1 text-sm sm:grid-cols-2">
            <div>
              <dt className="inline text-slate-600 dark:text-slate-400">{t('channels.inbound.now')} </dt>
              <dd className="inline font-medium" data-testid="telegram-inbound-mode">
                {t(`channels.inbound.mode.${data.mode}`)}
              </dd>
            </div>
            <div>
              <dt className="inline text-slate-600 dark:text-slate-400">
                {t('channels.inbound.lastUpdate')}:{' '}
              </dt>
              <dd className="inline font-mono">{data.lastUpdateId ?? t('channels.inbound.noUpdate')}</dd>
            </div>
            {data.webhookUrl && (
              <div className="min-w-0 sm:col-span-2">
                <dt className="inline text-slate-600 dark:text-slate-400">
                  {t('channels.inbound.webhookUrl')}:{' '}
                </dt>
                <dd className="inline font-mono break-all">{data.webhookUrl}</dd>
              </div>
            )}
          </dl>
          <div className="space-y-1">
            <h4 className="text-sm font-medium">{t('channels.inbound.linked')}</h4>
            {data.linkedChats.length === 0 ? (
              <p className="text-sm">{t('channels.inbound.noLinked')}</p>
            ) : (
              <ul className="space-y-1 text-sm" data-testid="telegram-linked-chats">
                {data.linkedChats.map((chat) => (
                  <li key={chat.chatId} className="flex flex-wrap items-center gap-2">
                    <span>
                      {t('channels.inbound.chat', {
                        chatId: chat.chatId,
                        person:
                          chat.userId === myId
                            ? t('channels.inbound.you')
                            : (emails.get(chat.userId) ?? chat.userId),
                        when: formatRelative(chat.linkedAt, lang),
                      })}
                    </span>
                    {(canAdmin || chat.userId === myId) && (
                      <Button
                        className="px-2 py-1"
                        busy={unlink.isPending && unlink.variables === chat.chatId}
                        onClick={() => unlink.mutate(chat.chatId)}
                        aria-label={t('channels.inbound.unlinkLabel', { chatId: chat.chatId })}
                      >
                        {t('channels.inbound.unlink')}
                      </Button>
                    )}
                  </li>
                ))}
              </ul>
            )}
            <ErrorNote error={unlink.error} />
            <p role="status" className="text-sm empty:hidden">
              {unlinked}
            </p>
          </div>
          {canAdmin && editing && <ModeSwitch channel={channel} state={data} />}
        </>
      )}
    </section>
  )
}

/** Admins: off, polling or webhook, each said in one sentence; a webhook with this installation's address. */
function ModeSwitch({ channel, state }: { channel: Channel; state: TelegramInbound }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const name = useId()
  const [mode, setMode] = useState<TelegramInboundMode>(state.mode)
  const [url, setUrl] = useState(() => window.location.origin)
  const [saved, setSaved] = useState('')
  // Follows the server when the mode changes elsewhere (another tab, another admin).
  useEffect(() => setMode(state.mode), [state.mode])
  const save = useMutation({
    // An empty address is left out: the server takes OPENORCH_PUBLIC_URL, or says that one is needed.
    mutationFn: () =>
      api.setTelegramInbound(
        channel.id,
        mode === 'webhook' && url.trim() ? { mode, url: url.trim() } : { mode },
      ),
    onMutate: () => setSaved(''),
    onSuccess: (answer) => {
      queryClient.setQueryData(telegramKey(channel.id), answer)
      setSaved(t('channels.inbound.saved', { mode: t(`channels.inbound.mode.${answer.mode}`) }))
    },
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    save.mutate()
  }
  // A webhook may be registered again (a new address, a new secret); the other modes only when changed.
  const changed = mode !== state.mode || mode === 'webhook'
  return (
    <form onSubmit={submit} className="space-y-3" noValidate>
      <fieldset className="space-y-2">
        <legend className="text-sm font-medium">
          {t('channels.inbound.modeLegend', { name: channel.name })}
        </legend>
        {telegramInboundModes.map((value) => (
          <div key={value} className="flex items-start gap-2">
            <input
              id={`${name}-${value}`}
              type="radio"
              name={name}
              value={value}
              className="mt-0.5 h-4 w-4"
              checked={mode === value}
              aria-describedby={`${name}-${value}-hint`}
              onChange={() => {
                setSaved('')
                setMode(value)
              }}
            />
            <div className="text-sm">
              <label htmlFor={`${name}-${value}`} className="font-medium">
                {t(`channels.inbound.mode.${value}`)}
              </label>
              <p id={`${name}-${value}-hint`} className="text-slate-700 dark:text-slate-300">
                {t(`channels.inbound.mode.${value}.hint`)}
              </p>
            </div>
          </div>
        ))}
      </fieldset>
      {mode === 'webhook' && (
        <Field label={t('channels.inbound.url')} hint={t('channels.inbound.urlHint')}>
          {(props) => (
            <TextInput
              {...props}
              type="url"
              inputMode="url"
              autoComplete="off"
              spellCheck={false}
              value={url}
              onChange={(e) => setUrl(e.target.value)}
            />
          )}
        </Field>
      )}
      <ErrorNote error={save.error} />
      <Button
        type="submit"
        className="px-2 py-1"
        disabled={!changed}
        busy={save.isPending}
        aria-label={t('channels.inbound.saveLabel', { name: channel.name })}
      >
        {t('channels.inbound.save')}
      </Button>
      <p role="status" className="text-sm empty:hidden">
        {saved}
      </p>
    </form>
  )
}
