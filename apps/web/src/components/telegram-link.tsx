import type { Channel, TelegramLinkCode } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useEffect, useId, useRef, useState } from 'react'
import { useSignedIn } from '../lib/api.tsx'
import { channelsApi } from '../lib/channels-api.ts'
import { formatCountdown, formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { telegramKey, useTelegramInbound } from './telegram-inbound.tsx'
import { Button, Card, ErrorNote } from './ui.tsx'

// Account → Telegram (issue 14): for each Telegram channel of the workspace, a one-time code that
// links the person's Telegram chat (they send `/link 123456` to the bot), with a live countdown to its
// expiry, and the chats linked to them with an Unlink each. While a code is live the linked chats are
// asked for every few seconds, so the page says "linked" as soon as the bot has taken the code.

/** How often the linked chats are read while a code waits to be sent. */
const linkPollMs = 3000

export function TelegramLinks({ userId }: { userId: string }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const headingId = useId()
  const channels = useQuery({ queryKey: ['channels'], queryFn: () => api.list() })
  const telegram = (channels.data?.items ?? []).filter((channel) => channel.type === 'telegram')
  return (
    <section aria-labelledby={headingId} data-testid="account-telegram">
      <Card className="space-y-4">
        <h2 id={headingId} className="text-xl font-semibold">
          {t('account.telegram')}
        </h2>
        <p className="text-sm text-slate-700 dark:text-slate-300">{t('account.telegram.intro')}</p>
        <ErrorNote error={channels.error} />
        {channels.isSuccess && telegram.length === 0 && (
          <p className="text-sm">{t('account.telegram.none')}</p>
        )}
        {telegram.map((channel) => (
          <ChannelLink key={channel.id} channel={channel} userId={userId} />
        ))}
      </Card>
    </section>
  )
}

/** The current time, once a second while `active`. */
function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!active) return
    setNow(Date.now())
    const timer = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(timer)
  }, [active])
  return now
}

function ChannelLink({ channel, userId }: { channel: Channel; userId: string }) {
  const { t, lang } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const headingId = useId()
  const heading = useRef<HTMLHeadingElement>(null)
  const [code, setCode] = useState<TelegramLinkCode | null>(null)
  const [message, setMessage] = useState('')
  const now = useNow(code !== null)
  const expiresAt = code ? Date.parse(code.expiresAt) : 0
  const live = code !== null && expiresAt > now
  const state = useTelegramInbound(channel.id, live ? linkPollMs : false)
  const mine = (state.data?.linkedChats ?? []).filter((chat) => chat.userId === userId)
  // The chats linked when the code was made: one that appears later is the one the code linked.
  const before = useRef<Set<string>>(new Set())
  const newlyLinked = code ? mine.find((chat) => !before.current.has(chat.chatId)) : undefined
  useEffect(() => {
    if (!newlyLinked) return
    setCode(null)
    setMessage(t('account.telegram.linked', { chatId: newlyLinked.chatId }))
  }, [newlyLinked, t])
  const create = useMutation({
    mutationFn: () => api.telegramLinkCode(channel.id),
    onMutate: () => setMessage(''),
    onSuccess: (answer) => {
      before.current = new Set(mine.map((chat) => chat.chatId))
      setCode(answer)
    },
  })
  const unlink = useMutation({
    mutationFn: (chatId: string) => api.unlinkTelegramChat(channel.id, chatId),
    onMutate: () => setMessage(''),
    onSuccess: async (_, chatId) => {
      setMessage(t('account.telegram.unlinked', { chatId }))
      await queryClient.invalidateQueries({ queryKey: telegramKey(channel.id) })
      // Its button is gone: the focus goes back to the channel, not to the page's top.
      heading.current?.focus()
    },
  })
  return (
    <article
      aria-labelledby={headingId}
      className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700"
      data-testid="telegram-link"
    >
      <h3 id={headingId} ref={heading} tabIndex={-1} className="font-medium break-all outline-none">
        <span aria-hidden="true">✈️</span> {channel.name}
      </h3>
      <div className="space-y-1">
        <h4 className="text-sm font-medium">{t('account.telegram.yourChats')}</h4>
        <ErrorNote error={state.error} />
        {state.isSuccess && mine.length === 0 && <p className="text-sm">{t('account.telegram.noChats')}</p>}
        {mine.length > 0 && (
          <ul className="space-y-1 text-sm">
            {mine.map((chat) => (
              <li key={chat.chatId} className="flex flex-wrap items-center gap-2">
                <span>
                  {t('account.telegram.chat', {
                    chatId: chat.chatId,
                    when: formatRelative(chat.linkedAt, lang),
                  })}
                </span>
                <Button
                  className="px-2 py-1"
                  busy={unlink.isPending && unlink.variables === chat.chatId}
                  onClick={() => unlink.mutate(chat.chatId)}
                  aria-label={t('account.telegram.unlinkLabel', { chatId: chat.chatId, name: channel.name })}
                >
                  {t('account.telegram.unlink')}
                </Button>
              </li>
            ))}
          </ul>
        )}
        <ErrorNote error={unlink.error} />
      </div>
      <div aria-live="polite" className="space-y-3 text-sm empty:hidden" data-testid="telegram-link-result">
        {message && <p>{message}</p>}
        {code && live && <CodeShown code={code.code} />}
        {code && !live && <p className="font-medium">{t('account.telegram.expired')}</p>}
      </div>
      {code && live && <Countdown msLeft={expiresAt - now} code={code.code} />}
      <ErrorNote error={create.error} />
      <Button
        variant={code ? 'secondary' : 'primary'}
        busy={create.isPending}
        onClick={() => create.mutate()}
        aria-label={code ? undefined : t('account.telegram.linkLabel', { name: channel.name })}
      >
        {code ? t('account.telegram.again') : t('account.telegram.link')}
      </Button>
    </article>
  )
}

/** The six digits, large, and what to do with them. */
function CodeShown({ code }: { code: string }) {
  const { t } = useI18n()
  // The command set apart, so it reads as something to type.
  const command = `/link ${code}`
  const [head, ...rest] = t('account.telegram.instruction', { code }).split(command)
  return (
    <div className="space-y-1">
      <p className="font-medium">{t('account.telegram.code')}</p>
      <p
        className="font-mono text-4xl font-semibold tracking-[0.3em] text-slate-900 dark:text-white"
        data-testid="telegram-link-code"
      >
        {code}
      </p>
      <p>
        {head}
        {rest.length > 0 && (
          <>
            <code className="rounded bg-slate-100 px-1 font-mono dark:bg-slate-900">{command}</code>
            {rest.join(command)}
          </>
        )}
      </p>
    </div>
  )
}

/**
 * The time left, every second on screen; a screen reader hears it once a minute (a timer's own
 * changes are not announced), and the copy button's result.
 */
function Countdown({ msLeft, code }: { msLeft: number; code: string }) {
  const { t } = useI18n()
  const [copied, setCopied] = useState('')
  const minutes = Math.floor(msLeft / 60_000)
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(`/link ${code}`)
      setCopied(t('channels.copied'))
    } catch {
      setCopied(t('channels.copyFailed'))
    }
  }
  return (
    <div className="space-y-2 text-sm">
      <p role="timer" className="tabular-nums" data-testid="telegram-link-countdown">
        {t('account.telegram.expiresIn', { time: formatCountdown(msLeft) })}
      </p>
      <p aria-live="polite" className="sr-only">
        {minutes > 0
          ? t('account.telegram.expiresInMinutes', { n: minutes })
          : t('account.telegram.expiresSoon')}
      </p>
      <div className="flex flex-wrap items-center gap-2">
        <Button className="px-2 py-1" onClick={() => void copy()}>
          {t('account.telegram.copy')}
        </Button>
        <p role="status" className="empty:hidden">
          {copied}
        </p>
      </div>
    </div>
  )
}
