import type { Channel } from '@openorch/contracts'
import type { MessageKey } from './i18n.tsx'

// The set-up form of each channel type, as data: its fields (which are secret, which optional), the
// steps that guide a person through it, and presets (e-mail providers). A new type (amqp, nats) is one
// entry in `channelSpecs` and its texts in the dictionaries.

export type FieldKind = 'text' | 'url' | 'secret' | 'number' | 'select' | 'list' | 'headers'

export interface ChannelField {
  key: string
  kind: FieldKind
  label: MessageKey
  hint?: MessageKey
  optional?: boolean
  /** Tucked away under "More settings". */
  advanced?: boolean
  placeholder?: string
  /** For `select`: the values, each labelled `${label}.${value}`. */
  options?: readonly string[]
  /** The value a new form starts with. */
  initial?: string
}

export interface ChannelPreset {
  id: string
  label: MessageKey
  values: Record<string, string>
  hint?: MessageKey
}

export interface ChannelSpec {
  type: string
  icon: string
  title: MessageKey
  summary: MessageKey
  /** Numbered instructions shown above the fields. */
  steps: MessageKey[]
  fields: ChannelField[]
  presets?: ChannelPreset[]
  /** The field a chat finder fills (Telegram). */
  chatFinder?: { tokenField: string; chatField: string; apiBaseUrlField?: string }
}

export const channelSpecs: ChannelSpec[] = [
  {
    type: 'telegram',
    icon: '✈️',
    title: 'channels.type.telegram',
    summary: 'channels.type.telegram.summary',
    steps: ['channels.telegram.step1', 'channels.telegram.step2', 'channels.telegram.step3'],
    fields: [
      {
        key: 'botToken',
        kind: 'secret',
        label: 'channels.field.botToken',
        hint: 'channels.field.botToken.hint',
        placeholder: '123456789:AAE…',
      },
      {
        key: 'chatId',
        kind: 'text',
        label: 'channels.field.chatId',
        hint: 'channels.field.chatId.hint',
        placeholder: '123456789',
      },
      {
        key: 'apiBaseUrl',
        kind: 'url',
        label: 'channels.field.apiBaseUrl',
        hint: 'channels.field.apiBaseUrl.hint',
        optional: true,
        advanced: true,
        placeholder: 'https://api.telegram.org',
      },
    ],
    chatFinder: { tokenField: 'botToken', chatField: 'chatId', apiBaseUrlField: 'apiBaseUrl' },
  },
  {
    type: 'email',
    icon: '✉️',
    title: 'channels.type.email',
    summary: 'channels.type.email.summary',
    steps: ['channels.email.step1', 'channels.email.step2'],
    presets: [
      {
        id: 'gmail',
        label: 'channels.email.preset.gmail',
        values: { host: 'smtp.gmail.com', port: '465', security: 'tls' },
        hint: 'channels.email.preset.gmail.hint',
      },
      {
        id: 'outlook',
        label: 'channels.email.preset.outlook',
        values: { host: 'smtp.office365.com', port: '587', security: 'starttls' },
      },
      {
        id: 'fastmail',
        label: 'channels.email.preset.fastmail',
        values: { host: 'smtp.fastmail.com', port: '465', security: 'tls' },
        hint: 'channels.email.preset.fastmail.hint',
      },
      { id: 'custom', label: 'channels.email.preset.custom', values: {} },
    ],
    fields: [
      { key: 'host', kind: 'text', label: 'channels.field.host', placeholder: 'smtp.example.com' },
      { key: 'port', kind: 'number', label: 'channels.field.port', initial: '465' },
      {
        key: 'security',
        kind: 'select',
        label: 'channels.field.security',
        options: ['tls', 'starttls', 'none'],
        initial: 'tls',
      },
      { key: 'user', kind: 'text', label: 'channels.field.user', optional: true },
      {
        key: 'pass',
        kind: 'secret',
        label: 'channels.field.pass',
        hint: 'channels.field.pass.hint',
        optional: true,
      },
      {
        key: 'from',
        kind: 'text',
        label: 'channels.field.from',
        hint: 'channels.field.from.hint',
        placeholder: 'openOrchestrator <bots@example.com>',
      },
      {
        key: 'to',
        kind: 'list',
        label: 'channels.field.to',
        hint: 'channels.field.to.hint',
        placeholder: 'anna@example.com',
      },
    ],
  },
  {
    type: 'webhook',
    icon: '🔗',
    title: 'channels.type.webhook',
    summary: 'channels.type.webhook.summary',
    steps: ['channels.webhook.step1', 'channels.webhook.step2'],
    fields: [
      {
        key: 'url',
        kind: 'url',
        label: 'channels.field.url',
        hint: 'channels.field.url.hint',
        placeholder: 'https://example.com/hooks/openorch',
      },
      {
        key: 'headers',
        kind: 'headers',
        label: 'channels.field.headers',
        hint: 'channels.field.headers.hint',
        optional: true,
      },
    ],
  },
  {
    type: 'slack',
    icon: '💬',
    title: 'channels.type.slack',
    summary: 'channels.type.slack.summary',
    steps: ['channels.slack.step1', 'channels.slack.step2'],
    fields: [
      {
        key: 'webhookUrl',
        kind: 'secret',
        label: 'channels.field.webhookUrl',
        hint: 'channels.field.webhookUrl.slackHint',
        placeholder: 'https://hooks.slack.com/services/…',
      },
    ],
  },
  {
    type: 'discord',
    icon: '🎮',
    title: 'channels.type.discord',
    summary: 'channels.type.discord.summary',
    steps: ['channels.discord.step1', 'channels.discord.step2'],
    fields: [
      {
        key: 'webhookUrl',
        kind: 'secret',
        label: 'channels.field.webhookUrl',
        hint: 'channels.field.webhookUrl.discordHint',
        placeholder: 'https://discord.com/api/webhooks/…',
      },
    ],
  },
]

export function specOf(type: string): ChannelSpec | undefined {
  return channelSpecs.find((spec) => spec.type === type)
}

export interface HeaderRow {
  name: string
  value: string
}

export interface ChannelFormValues {
  name: string
  values: Record<string, string>
  headers: HeaderRow[]
}

/** A new form for a type: the fields' initial values. */
export function emptyChannelForm(spec: ChannelSpec): ChannelFormValues {
  const values: Record<string, string> = {}
  for (const field of spec.fields) values[field.key] = field.initial ?? ''
  return { name: '', values, headers: [] }
}

/** The form of a saved channel: its visible settings; secrets start empty (left so, they are kept). */
export function formOfChannel(
  spec: ChannelSpec,
  channel: Pick<Channel, 'name' | 'config'>,
): ChannelFormValues {
  const values: Record<string, string> = {}
  for (const field of spec.fields) {
    const value = channel.config[field.key]
    if (field.kind === 'secret' || field.kind === 'headers' || value === undefined || value === null)
      values[field.key] = field.kind === 'secret' || field.kind === 'headers' ? '' : (field.initial ?? '')
    else if (Array.isArray(value)) values[field.key] = value.map(String).join(', ')
    else values[field.key] = String(value)
  }
  return { name: channel.name, values, headers: [] }
}

/**
 * The `config` a form makes, and the fields it still lacks. Editing, an empty secret (or no header
 * row) is left out, so the server keeps the stored one.
 */
export function configOf(
  spec: ChannelSpec,
  form: ChannelFormValues,
  editing = false,
): { config: Record<string, unknown>; missing: string[] } {
  const config: Record<string, unknown> = {}
  const missing: string[] = []
  for (const field of spec.fields) {
    const raw = (form.values[field.key] ?? '').trim()
    if (field.kind === 'headers') {
      const rows = form.headers.filter((row) => row.name.trim() !== '')
      if (rows.length > 0)
        config[field.key] = Object.fromEntries(rows.map((row) => [row.name.trim(), row.value]))
      continue
    }
    if (raw === '') {
      if (!field.optional && !(editing && field.kind === 'secret')) missing.push(field.key)
      continue
    }
    if (field.kind === 'number') config[field.key] = Number(raw)
    else if (field.kind === 'list')
      config[field.key] = raw
        .split(/[,;\n]/)
        .map((item) => item.trim())
        .filter(Boolean)
    else config[field.key] = raw
  }
  return { config, missing }
}

/** `config.botToken` → `botToken`: a server refusal's field, as the form's key. */
export function formFieldOf(field: string): string {
  return (
    field
      .replace(/^body\./, '')
      .replace(/^config\./, '')
      .split('.')[0] ?? field
  )
}
