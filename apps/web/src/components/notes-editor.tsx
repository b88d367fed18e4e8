import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { type FormEvent, useEffect, useState } from 'react'
import { useClient } from '../lib/api.tsx'
import { formatRelative } from '../lib/format.ts'
import { useI18n } from '../lib/i18n.tsx'
import { Button, Card, ErrorNote, Field, Select, TextArea, TextInput } from './ui.tsx'

// A bot's notes: part of every run's context (newest first). Pick one to edit, or start a new one.

export function NotesEditor({ botId }: { botId: string }) {
  const { t, lang } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const notes = useQuery({ queryKey: ['notes', botId], queryFn: () => client.bots.notes.list(botId) })
  const [name, setName] = useState('notes.md')
  const [content, setContent] = useState('')
  const existing = notes.data?.items.find((n) => n.name === name)
  const note = useQuery({
    queryKey: ['note', botId, name],
    queryFn: () => client.bots.notes.get(botId, name),
    enabled: !!existing,
  })
  useEffect(() => {
    setContent(note.data?.content ?? '')
  }, [note.data])
  const save = useMutation({
    mutationFn: () => client.bots.notes.put(botId, name.trim(), content),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['notes', botId] }),
  })
  const submit = (event: FormEvent) => {
    event.preventDefault()
    save.mutate()
  }
  return (
    <section aria-labelledby="notes-heading">
      <h2 id="notes-heading" className="mb-2 text-lg font-semibold">
        {t('notes.title')}
      </h2>
      <Card>
        <p className="mb-3 text-sm text-slate-700 dark:text-slate-300">{t('notes.intro')}</p>
        <ErrorNote error={notes.error} />
        <form onSubmit={submit} className="space-y-3">
          <div className="grid gap-3 sm:grid-cols-2">
            {notes.data && notes.data.items.length > 0 && (
              <Field label={t('notes.existing')}>
                {(props) => (
                  <Select
                    {...props}
                    value={existing ? name : ''}
                    onChange={(e) => e.target.value && setName(e.target.value)}
                  >
                    <option value="">{t('notes.choose')}</option>
                    {notes.data.items.map((n) => (
                      <option key={n.name} value={n.name}>
                        {n.name} ({formatRelative(n.updatedAt, lang)})
                      </option>
                    ))}
                  </Select>
                )}
              </Field>
            )}
            <Field label={t('notes.name')} hint={t('notes.nameHint')}>
              {(props) => <TextInput {...props} value={name} onChange={(e) => setName(e.target.value)} />}
            </Field>
          </div>
          <Field label={t('notes.content')}>
            {(props) => (
              <TextArea {...props} rows={6} value={content} onChange={(e) => setContent(e.target.value)} />
            )}
          </Field>
          <ErrorNote error={save.error} />
          {save.isSuccess && (
            <p role="status" className="text-sm text-emerald-800 dark:text-emerald-300">
              {t('notes.saved')}
            </p>
          )}
          <Button type="submit" busy={save.isPending} disabled={!name.trim()}>
            {t('notes.save')}
          </Button>
        </form>
      </Card>
    </section>
  )
}
