import { useQuery, useQueryClient } from '@tanstack/react-query'
import { BotForm, valuesOfBot } from '../components/bot-form.tsx'
import { ErrorNote, Loading, PageTitle } from '../components/ui.tsx'
import { useClient } from '../lib/api.tsx'
import { useI18n } from '../lib/i18n.tsx'
import { Link, navigate } from '../lib/router.tsx'

export default function EditBot({ id }: { id: string }) {
  const { t } = useI18n()
  const client = useClient()
  const queryClient = useQueryClient()
  const bot = useQuery({ queryKey: ['bot', id], queryFn: () => client.bots.get(id) })
  if (bot.isLoading) return <Loading />
  if (!bot.data) return <ErrorNote error={bot.error} />
  return (
    <div className="mx-auto max-w-3xl">
      <p className="mb-2 text-sm">
        <Link href={`/bots/${encodeURIComponent(id)}`}>← {bot.data.name}</Link>
      </p>
      <PageTitle>{t('editBot.title', { name: bot.data.name })}</PageTitle>
      <BotForm
        botId={id}
        initial={valuesOfBot(bot.data)}
        submitLabel={t('editBot.save')}
        onSubmit={async (values) => {
          const saved = await client.bots.update(id, values)
          queryClient.setQueryData(['bot', id], saved)
          await queryClient.invalidateQueries({ queryKey: ['bots'] })
          navigate(`/bots/${encodeURIComponent(id)}`)
        }}
      />
    </div>
  )
}
