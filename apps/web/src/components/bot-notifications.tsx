import { channelFormats, channelRules } from '@openorch/contracts'
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { useId, useState } from 'react'
import { useSignedIn } from '../lib/api.tsx'
import { specOf } from '../lib/channel-form.ts'
import { type ChannelFormat, type ChannelRule, channelsApi } from '../lib/channels-api.ts'
import { useI18n } from '../lib/i18n.tsx'
import { mayOffer, useMyRole } from '../lib/roles.ts'
import { Link } from '../lib/router.tsx'
import { Button, Card, ErrorNote, Select } from './ui.tsx'

// A bot's notifications (issue 14): the channels it notifies, each with its rule (when) and format
// (how much), changed in place; another channel added; a link removed. The rules in one line each.

export function BotNotifications({ botId, botName }: { botId: string; botName: string }) {
  const { t } = useI18n()
  const api = channelsApi(useSignedIn())
  const queryClient = useQueryClient()
  const canEdit = mayOffer(useMyRole(), 'editor')
  const headingId = useId()
  const links = useQuery({ queryKey: ['bot-channels', botId], queryFn: () => api.botLinks(botId) })
  const channels = useQuery({ queryKey: ['channels'], queryFn: () => api.list() })
  const linked = new Set(links.data?.items.map((l) => l.channelId) ?? [])
  const free = (channels.data?.items ?? []).filter((c) => !linked.has(c.id))
  const [adding, setAdding] = useState('')
  const [rule, setRule] = useState<ChannelRule>('always')
  const [format, setFormat] = useState<ChannelFormat>('short')
  const addChannelId = useId()
  const addRuleId = useId()
  const addFormatId = useId()
  const refresh = () => void queryClient.invalidateQueries({ queryKey: ['bot-channels', botId] })
  const put = useMutation({
    mutationFn: (v: { channelId: string; rule: ChannelRule; format: ChannelFormat }) =>
      api.link(botId, v.channelId, v.rule, v.format),
    onSuccess: refresh,
  })
  const add = useMutation({
    mutationFn: () => api.link(botId, adding || (free[0]?.id ?? ''), rule, format),
    onSuccess: () => {
      setAdding('')
      refresh()
    },
  })
  const unlink = useMutation({
    mutationFn: (channelId: string) => api.unlink(botId, channelId),
    onSuccess: refresh,
  })
  const items = links.data?.items ?? []

  return (
    <Card>
      <section aria-labelledby={headingId} className="space-y-3" data-testid="bot-notifications">
        <h2 id={headingId} className="text-lg font-semibold">
          {t('botNotify.title')}
        </h2>
        <p className="text-sm text-slate-700 dark:text-slate-300">
          {t('botNotify.intro', { name: botName })}
        </p>
        <ErrorNote error={links.error ?? put.error ?? unlink.error} />
        {links.isSuccess && items.length === 0 && (
          <p className="text-sm text-slate-700 dark:text-slate-300">{t('botNotify.none')}</p>
        )}
        {items.length > 0 && (
          <ul className="space-y-2">
            {items.map((link) => (
              <li
                key={link.channelId}
                className="flex flex-wrap items-end gap-3 rounded-md border border-slate-200 p-3 dark:border-slate-700"
                data-testid="bot-channel"
              >
                <span className="min-w-0 flex-1 basis-40 font-medium break-all">
                  <span aria-hidden="true">{specOf(link.channelType)?.icon ?? '📣'}</span> {link.channelName}
                </span>
                <LinkSelect
                  label={t('botNotify.rule')}
                  accessibleLabel={t('botNotify.ruleLabel', { name: link.channelName })}
                  value={link.rule}
                  disabled={!canEdit || put.isPending}
                  options={channelRules.map((r) => ({ value: r, label: t(`botNotify.rule.${r}`) }))}
                  onChange={(value) =>
                    put.mutate({ channelId: link.channelId, rule: value as ChannelRule, format: link.format })
                  }
                />
                <LinkSelect
                  label={t('botNotify.format')}
                  accessibleLabel={t('botNotify.formatLabel', { name: link.channelName })}
                  value={link.format}
                  disabled={!canEdit || put.isPending}
                  options={channelFormats.map((f) => ({ value: f, label: t(`botNotify.format.${f}`) }))}
                  onChange={(value) =>
                    put.mutate({ channelId: link.channelId, rule: link.rule, format: value as ChannelFormat })
                  }
                />
                {canEdit && (
                  <Button
                    className="px-2 py-2"
                    busy={unlink.isPending && unlink.variables === link.channelId}
                    onClick={() => unlink.mutate(link.channelId)}
                    aria-label={t('botNotify.removeLabel', { name: link.channelName })}
                  >
                    {t('botNotify.remove')}
                  </Button>
                )}
              </li>
            ))}
          </ul>
        )}
        {canEdit && channels.isSuccess && channels.data.items.length === 0 && (
          <p className="text-sm">
            {t('botNotify.noChannels')} <Link href="/channels">{t('botNotify.setUp')}</Link>
          </p>
        )}
        {canEdit && free.length > 0 && (
          <form
            className="flex flex-wrap items-end gap-3"
            onSubmit={(event) => {
              event.preventDefault()
              add.mutate()
            }}
          >
            <div className="min-w-0 flex-1 basis-40 space-y-1 text-sm">
              <label htmlFor={addChannelId} className="block">
                {t('botNotify.addChannel')}
              </label>
              <Select
                id={addChannelId}
                value={adding || free[0]?.id}
                onChange={(e) => setAdding(e.target.value)}
              >
                {free.map((c) => (
                  <option key={c.id} value={c.id}>
                    {c.name}
                  </option>
                ))}
              </Select>
            </div>
            <div className="space-y-1 text-sm">
              <label htmlFor={addRuleId} className="block">
                {t('botNotify.rule')}
              </label>
              <Select id={addRuleId} value={rule} onChange={(e) => setRule(e.target.value as ChannelRule)}>
                {channelRules.map((r) => (
                  <option key={r} value={r}>
                    {t(`botNotify.rule.${r}`)}
                  </option>
                ))}
              </Select>
            </div>
            <div className="space-y-1 text-sm">
              <label htmlFor={addFormatId} className="block">
                {t('botNotify.format')}
              </label>
              <Select
                id={addFormatId}
                value={format}
                onChange={(e) => setFormat(e.target.value as ChannelFormat)}
              >
                {channelFormats.map((f) => (
                  <option key={f} value={f}>
                    {t(`botNotify.format.${f}`)}
                  </option>
                ))}
              </Select>
            </div>
            <Button type="submit" variant="primary" busy={add.isPending}>
              {t('botNotify.add')}
            </Button>
          </form>
        )}
        <ErrorNote error={add.error} />
        <div className="text-sm">
          <p className="font-medium">{t('botNotify.rulesExplained')}</p>
          <dl className="mt-1 space-y-1 text-slate-700 dark:text-slate-300">
            {channelRules.map((r) => (
              <div key={r}>
                <dt className="inline font-medium">{t(`botNotify.rule.${r}`)}: </dt>
                <dd className="inline">{t(`botNotify.ruleHint.${r}`)}</dd>
              </div>
            ))}
            {channelFormats.map((f) => (
              <div key={f}>
                <dt className="inline font-medium">{t(`botNotify.format.${f}`)}: </dt>
                <dd className="inline">{t(`botNotify.formatHint.${f}`)}</dd>
              </div>
            ))}
          </dl>
        </div>
      </section>
    </Card>
  )
}

function LinkSelect({
  label,
  accessibleLabel,
  value,
  disabled,
  options,
  onChange,
}: {
  label: string
  accessibleLabel: string
  value: string
  disabled: boolean
  options: { value: string; label: string }[]
  onChange: (value: string) => void
}) {
  const id = useId()
  return (
    <div className="space-y-1 text-sm">
      <label htmlFor={id} className="block">
        {label}
      </label>
      <Select
        id={id}
        value={value}
        disabled={disabled}
        aria-label={accessibleLabel}
        onChange={(e) => onChange(e.target.value)}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </Select>
    </div>
  )
}
