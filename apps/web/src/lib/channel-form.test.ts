import { describe, expect, it } from 'vitest'
import { configOf, emptyChannelForm, formFieldOf, formOfChannel, specOf } from './channel-form.ts'

describe('channel forms', () => {
  it('makes an e-mail config: the port a number, recipients a list, an empty optional field left out', () => {
    const spec = specOf('email')!
    const form = emptyChannelForm(spec)
    form.values = {
      ...form.values,
      host: 'smtp.gmail.com',
      port: '465',
      from: 'Bots <me@example.com>',
      to: 'a@example.com, b@example.com;c@example.com',
    }
    expect(configOf(spec, form)).toEqual({
      config: {
        host: 'smtp.gmail.com',
        port: 465,
        security: 'tls',
        from: 'Bots <me@example.com>',
        to: ['a@example.com', 'b@example.com', 'c@example.com'],
      },
      missing: [],
    })
  })

  it('names what is missing; editing, an empty secret is left out so the stored one is kept', () => {
    const spec = specOf('telegram')!
    expect(configOf(spec, emptyChannelForm(spec)).missing).toEqual(['botToken', 'chatId'])
    const form = formOfChannel(spec, { name: 'Phone', config: { chatId: '42' } })
    expect(form.values.botToken).toBe('')
    expect(configOf(spec, form, true)).toEqual({ config: { chatId: '42' }, missing: [] })
  })

  it('turns webhook header rows into a record, skipping unnamed rows', () => {
    const spec = specOf('webhook')!
    const form = emptyChannelForm(spec)
    form.values.url = 'https://example.com/hook'
    form.headers = [
      { name: 'Authorization', value: 'Bearer x' },
      { name: ' ', value: 'ignored' },
    ]
    expect(configOf(spec, form).config).toEqual({
      url: 'https://example.com/hook',
      headers: { Authorization: 'Bearer x' },
    })
  })

  it('maps a refused field to its form key', () => {
    expect(formFieldOf('config.botToken')).toBe('botToken')
    expect(formFieldOf('body.config.to.0')).toBe('to')
    expect(formFieldOf('name')).toBe('name')
  })
})
