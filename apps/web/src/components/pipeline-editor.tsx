import type { Bot } from '@openorch/contracts'
import { ApiError } from '@openorch/sdk'
import { type DragEvent, type FormEvent, useEffect, useId, useMemo, useState } from 'react'
import { useBotOptions } from '../lib/bot-options.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'
import {
  bodyOfForm,
  type ConditionForm,
  type ConditionKind,
  conditionKinds,
  conditionOps,
  conditionStatuses,
  errorPolicies,
  freshKey,
  graphStepsOf,
  inputModes,
  moveStep,
  newStep,
  type PipelineForm,
  type PlacedErrors,
  placeErrors,
  removeStep,
  type StartsAfter,
  type StepForm,
} from '../lib/pipeline-form.ts'
import { dependencyKeysOf } from '../lib/pipeline-graph.ts'
import { Link } from '../lib/router.tsx'
import PipelineGraph, { type GraphStepView } from './pipeline-graph.tsx'
import { ScheduleHelper } from './schedule-helper.tsx'
import { Button, Card, cx, ErrorNote, Field, Select, TextInput } from './ui.tsx'

// Create and edit a pipeline: its steps as cards (bot, input mode, what each waits for, an optional
// condition, approval and error policy), reordered by dragging a card's handle or with its move
// buttons; the graph of the steps drawn as they are edited; the pipeline's error policy, time limit and
// schedule (the bot form's cron helper). The server's refusals appear at the step and field they name.

const noErrors: PlacedErrors = { pipeline: new Map(), steps: new Map() }
const noFieldErrors = new Map<string, string>()

function graphViewOf(steps: readonly StepForm[], byId: Map<string, Bot>, noBot: string): GraphStepView[] {
  return graphStepsOf(steps).map((step, index) => ({
    ...step,
    botName: byId.get(steps[index]!.bot)?.name ?? noBot,
  }))
}

export function PipelineEditorForm({
  initial,
  submitLabel,
  onSubmit,
}: {
  initial: PipelineForm
  submitLabel: string
  onSubmit: (body: ReturnType<typeof bodyOfForm>) => Promise<unknown>
}) {
  const { t } = useI18n()
  const { bots, byId, query: botsQuery } = useBotOptions()
  const [form, setForm] = useState<PipelineForm>(initial)
  const [error, setError] = useState<unknown>(null)
  const [placed, setPlaced] = useState<PlacedErrors>(noErrors)
  const [busy, setBusy] = useState(false)
  const [announcement, setAnnouncement] = useState('')
  const [focusAfterMove, setFocusAfterMove] = useState<{ id: string; button: 'up' | 'down' } | null>(null)
  const [dragFrom, setDragFrom] = useState<number | null>(null)
  const [dropAt, setDropAt] = useState<number | null>(null)
  const set = <K extends keyof PipelineForm>(key: K, value: PipelineForm[K]) =>
    setForm((f) => ({ ...f, [key]: value }))
  const setSteps = (update: (steps: StepForm[]) => StepForm[]) =>
    setForm((f) => ({ ...f, steps: update(f.steps) }))
  const patchStep = (id: string, patch: Partial<StepForm>) =>
    setSteps((steps) => steps.map((s) => (s.id === id ? { ...s, ...patch } : s)))

  const graphSteps = useMemo(
    () => graphViewOf(form.steps, byId, t('pipeline.step.noBot')),
    [form.steps, byId, t],
  )

  // After a move with the keyboard, focus stays on the card's move button (or its other one, when
  // the card reached an end and the button is disabled).
  useEffect(() => {
    if (!focusAfterMove) return
    const { id, button } = focusAfterMove
    const wanted = document.getElementById(`${id}-${button}`) as HTMLButtonElement | null
    const other = document.getElementById(
      `${id}-${button === 'up' ? 'down' : 'up'}`,
    ) as HTMLButtonElement | null
    ;(wanted && !wanted.disabled ? wanted : other)?.focus()
    setFocusAfterMove(null)
  }, [focusAfterMove])

  const move = (from: number, to: number, button?: 'up' | 'down') => {
    const step = form.steps[from]
    if (!step || to < 0 || to >= form.steps.length || from === to) return
    setSteps((steps) => moveStep(steps, from, to))
    setAnnouncement(t('pipeline.step.moved', { key: step.key || t('pipeline.step.untitled'), n: to + 1 }))
    if (button) setFocusAfterMove({ id: step.id, button })
  }

  const onDrop = (event: DragEvent, to: number) => {
    event.preventDefault()
    const from = dragFrom ?? Number(event.dataTransfer.getData('text/plain'))
    setDragFrom(null)
    setDropAt(null)
    if (Number.isInteger(from)) move(from, to)
  }

  const submit = async (event: FormEvent) => {
    event.preventDefault()
    setBusy(true)
    setError(null)
    setPlaced(noErrors)
    const ids = form.steps.map((s) => s.id)
    try {
      await onSubmit(bodyOfForm(form))
    } catch (caught) {
      setError(caught)
      if (caught instanceof ApiError) setPlaced(placeErrors(caught.problem?.errors ?? [], ids))
    } finally {
      setBusy(false)
    }
  }

  const pipelineError = (field: string) => placed.pipeline.get(field)

  return (
    <form onSubmit={submit} className="space-y-6" noValidate>
      <Card className="space-y-4">
        <div className="grid gap-4 sm:grid-cols-[6rem_1fr]">
          <Field label={t('pipeline.emoji')} error={pipelineError('emoji')}>
            {(props) => (
              <TextInput
                {...props}
                value={form.emoji}
                maxLength={16}
                onChange={(e) => set('emoji', e.target.value)}
              />
            )}
          </Field>
          <Field label={t('pipeline.name')} error={pipelineError('name')}>
            {(props) => (
              <TextInput
                {...props}
                name="name"
                required
                value={form.name}
                onChange={(e) => set('name', e.target.value)}
              />
            )}
          </Field>
        </div>
        <Field label={t('pipeline.description')} error={pipelineError('description')}>
          {(props) => (
            <TextInput
              {...props}
              value={form.description}
              onChange={(e) => set('description', e.target.value)}
            />
          )}
        </Field>
      </Card>

      <section aria-labelledby="pipeline-steps" className="space-y-4">
        <div>
          <h2 id="pipeline-steps" className="text-lg font-semibold">
            {t('pipeline.steps')}
          </h2>
          <p className="text-sm text-slate-700 dark:text-slate-300">{t('pipeline.stepsHint')}</p>
        </div>
        <PipelineGraph steps={graphSteps} label={t('pipeline.graph')} />
        {botsQuery.isSuccess && bots.length === 0 && (
          <p role="alert" className="text-sm">
            {t('pipeline.noBots')} <Link href="/bots/new">{t('pipeline.createBot')}</Link>
          </p>
        )}
        {pipelineError('steps') && (
          <p className="text-sm text-red-700 dark:text-red-300">{pipelineError('steps')}</p>
        )}
        <p aria-live="polite" className="sr-only">
          {announcement}
        </p>
        <ol className="space-y-4">
          {form.steps.map((step, index) => (
            <li
              key={step.id}
              data-testid="pipeline-step"
              onDragOver={(event) => {
                if (dragFrom === null) return
                event.preventDefault()
                event.dataTransfer.dropEffect = 'move'
                setDropAt(index)
              }}
              onDragLeave={() => setDropAt((at) => (at === index ? null : at))}
              onDrop={(event) => onDrop(event, index)}
              className={cx(
                'rounded-lg',
                dropAt === index && dragFrom !== index && 'outline-2 outline-dashed outline-indigo-600',
                dragFrom === index && 'opacity-60',
              )}
            >
              <StepCard
                step={step}
                index={index}
                steps={form.steps}
                bots={bots}
                errors={placed.steps.get(step.id) ?? noFieldErrors}
                onPatch={(patch) => patchStep(step.id, patch)}
                onMove={(to, button) => move(index, to, button)}
                onRemove={() => {
                  setSteps((steps) => removeStep(steps, step.id))
                  setAnnouncement(
                    t('pipeline.step.removed', { key: step.key || t('pipeline.step.untitled') }),
                  )
                }}
                onDragStart={(event) => {
                  setDragFrom(index)
                  event.dataTransfer.effectAllowed = 'move'
                  event.dataTransfer.setData('text/plain', String(index))
                  const card = (event.currentTarget as HTMLElement).closest('li')
                  if (card) event.dataTransfer.setDragImage(card, 24, 24)
                }}
                onDragEnd={() => {
                  setDragFrom(null)
                  setDropAt(null)
                }}
              />
            </li>
          ))}
        </ol>
        <Button
          disabled={form.steps.length >= 50}
          onClick={() => {
            const step = newStep(freshKey(form.steps), bots[0]?.id ?? '')
            setSteps((steps) => [...steps, step])
            setAnnouncement(t('pipeline.step.added', { key: step.key }))
            setFocusAfterMove(null)
            // The new card's key field, so typing names it.
            requestAnimationFrame(() =>
              document.querySelector<HTMLInputElement>(`[data-step-key="${step.id}"]`)?.focus(),
            )
          }}
        >
          {t('pipeline.addStep')}
        </Button>
      </section>

      <Card className="space-y-4">
        <fieldset>
          <legend className="text-sm font-medium">{t('pipeline.errorPolicy')}</legend>
          <div className="mt-2 space-y-2">
            {errorPolicies.map((policy) => (
              <label key={policy} className="flex items-start gap-2 text-sm">
                <input
                  type="radio"
                  name="errorPolicy"
                  value={policy}
                  className="mt-0.5 h-4 w-4"
                  checked={form.errorPolicy === policy}
                  onChange={() => set('errorPolicy', policy)}
                />
                <span>
                  <span className="font-medium">{t(`pipeline.errorPolicy.${policy}` as MessageKey)}</span>
                  <span className="block text-xs text-slate-700 dark:text-slate-300">
                    {t(`pipeline.errorPolicyHint.${policy}` as MessageKey)}
                  </span>
                </span>
              </label>
            ))}
          </div>
          {pipelineError('errorPolicy') && (
            <p className="mt-1 text-sm text-red-700 dark:text-red-300">{pipelineError('errorPolicy')}</p>
          )}
        </fieldset>
        <Field
          label={t('pipeline.maxRuntime')}
          hint={t('pipeline.maxRuntimeHint')}
          error={pipelineError('maxRuntimeSeconds')}
        >
          {(props) => (
            <TextInput
              {...props}
              type="number"
              min={1}
              className="max-w-48"
              value={Number.isNaN(form.maxRuntimeSeconds) ? '' : form.maxRuntimeSeconds}
              onChange={(e) => set('maxRuntimeSeconds', e.target.valueAsNumber)}
            />
          )}
        </Field>
      </Card>

      <Card className="space-y-4">
        <ScheduleHelper
          schedule={form.schedule}
          timezone={form.timezone}
          onSchedule={(s) => set('schedule', s)}
          onTimezone={(z) => set('timezone', z)}
          error={pipelineError('schedule') ?? pipelineError('timezone')}
        />
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            checked={form.enabled}
            onChange={(e) => set('enabled', e.target.checked)}
            className="h-4 w-4"
          />
          {t('pipeline.enabled')}
        </label>
        <details>
          <summary className="cursor-pointer text-sm font-medium">{t('pipeline.moreSchedule')}</summary>
          <div className="mt-3 grid gap-4 sm:grid-cols-3">
            <Field label={t('pipeline.missedRunPolicy')} error={pipelineError('missedRunPolicy')}>
              {(props) => (
                <Select
                  {...props}
                  value={form.missedRunPolicy}
                  onChange={(e) => set('missedRunPolicy', e.target.value as PipelineForm['missedRunPolicy'])}
                >
                  <option value="ignore">{t('pipeline.missed.ignore')}</option>
                  <option value="catch_up_one">{t('pipeline.missed.catch_up_one')}</option>
                </Select>
              )}
            </Field>
            <Field label={t('pipeline.overlapPolicy')} error={pipelineError('overlapPolicy')}>
              {(props) => (
                <Select
                  {...props}
                  value={form.overlapPolicy}
                  onChange={(e) => set('overlapPolicy', e.target.value as PipelineForm['overlapPolicy'])}
                >
                  {(['skip', 'buffer_one', 'allow_all', 'cancel_other'] as const).map((policy) => (
                    <option key={policy} value={policy}>
                      {t(`pipeline.overlap.${policy}` as MessageKey)}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            <Field label={t('pipeline.jitter')} error={pipelineError('jitterSeconds')}>
              {(props) => (
                <TextInput
                  {...props}
                  type="number"
                  min={0}
                  max={3600}
                  value={Number.isNaN(form.jitterSeconds) ? '' : form.jitterSeconds}
                  onChange={(e) => set('jitterSeconds', e.target.valueAsNumber)}
                />
              )}
            </Field>
          </div>
        </details>
      </Card>
      <ErrorNote error={error} words={{ pipeline_invalid: 'pipeline.invalid' }} />
      <Button type="submit" variant="primary" busy={busy}>
        {submitLabel}
      </Button>
    </form>
  )
}

function FieldNote({ id, error }: { id?: string; error: string | undefined }) {
  if (!error) return null
  return (
    <p id={id} className="mt-1 text-sm text-red-700 dark:text-red-300">
      {error}
    </p>
  )
}

function StepCard({
  step,
  index,
  steps,
  bots,
  errors,
  onPatch,
  onMove,
  onRemove,
  onDragStart,
  onDragEnd,
}: {
  step: StepForm
  index: number
  steps: readonly StepForm[]
  bots: readonly Bot[]
  errors: Map<string, string>
  onPatch: (patch: Partial<StepForm>) => void
  onMove: (to: number, button: 'up' | 'down') => void
  onRemove: () => void
  onDragStart: (event: DragEvent) => void
  onDragEnd: () => void
}) {
  const { t } = useI18n()
  const uid = useId()
  const name = step.key.trim() || t('pipeline.step.untitled')
  const others = steps.filter((s) => s.id !== step.id)
  // What it waits for, by id (the condition names one of them) and in words (by key).
  const waitsForIds =
    step.startsAfter === 'previous'
      ? index === 0
        ? []
        : [steps[index - 1]!.id]
      : step.startsAfter === 'start'
        ? []
        : step.dependsOn
  const waitsFor = dependencyKeysOf(graphStepsOf(steps), index)
  const nameOf = (id: string) => steps.find((s) => s.id === id)?.key.trim() || t('pipeline.step.untitled')
  const botMissing = step.bot !== '' && bots.length > 0 && !bots.some((b) => b.id === step.bot)
  const stepError = errors.get('')
  const dependsOnError = errors.get('dependsOn')
  const conditionError = errors.get('condition')
  const approvalError = errors.get('approval')
  const hasError = errors.size > 0

  return (
    <Card className={cx('space-y-4', hasError && 'border-red-400 dark:border-red-500')}>
      <fieldset
        className="space-y-4"
        aria-labelledby={`${uid}-title`}
        aria-describedby={stepError ? `${uid}-error` : undefined}
      >
        <div className="flex flex-wrap items-center gap-2">
          <span
            draggable
            onDragStart={onDragStart}
            onDragEnd={onDragEnd}
            title={t('pipeline.step.drag')}
            aria-hidden="true"
            data-testid="step-drag-handle"
            className="cursor-grab rounded px-1 text-lg leading-none text-slate-500 select-none active:cursor-grabbing dark:text-slate-400"
          >
            ⠿
          </span>
          <h3 id={`${uid}-title`} className="text-base font-semibold">
            {t('pipeline.step.legend', { n: index + 1, key: name })}
          </h3>
          <div className="ml-auto flex flex-wrap gap-1">
            <Button
              id={`${step.id}-up`}
              variant="ghost"
              className="px-2 py-1"
              disabled={index === 0}
              aria-label={t('pipeline.step.moveUp', { key: name })}
              onClick={() => onMove(index - 1, 'up')}
            >
              <span aria-hidden="true">↑</span> {t('pipeline.step.up')}
            </Button>
            <Button
              id={`${step.id}-down`}
              variant="ghost"
              className="px-2 py-1"
              disabled={index === steps.length - 1}
              aria-label={t('pipeline.step.moveDown', { key: name })}
              onClick={() => onMove(index + 1, 'down')}
            >
              <span aria-hidden="true">↓</span> {t('pipeline.step.down')}
            </Button>
            <Button
              variant="ghost"
              className="px-2 py-1 text-red-800 dark:text-red-300"
              disabled={steps.length <= 1}
              aria-label={t('pipeline.step.remove', { key: name })}
              onClick={onRemove}
            >
              {t('pipeline.step.removeShort')}
            </Button>
          </div>
        </div>
        <FieldNote id={`${uid}-error`} error={stepError} />

        <div className="grid gap-4 sm:grid-cols-3">
          <Field label={t('pipeline.step.key')} hint={t('pipeline.step.keyHint')} error={errors.get('key')}>
            {(props) => (
              <TextInput
                {...props}
                data-step-key={step.id}
                spellCheck={false}
                className="font-mono"
                value={step.key}
                maxLength={64}
                onChange={(e) => onPatch({ key: e.target.value })}
              />
            )}
          </Field>
          <Field
            label={t('pipeline.step.bot')}
            error={errors.get('bot') ?? (botMissing ? t('pipeline.step.botGone') : undefined)}
          >
            {(props) => (
              <Select {...props} value={step.bot} onChange={(e) => onPatch({ bot: e.target.value })}>
                <option value="">{t('pipeline.step.chooseBot')}</option>
                {bots.map((bot) => (
                  <option key={bot.id} value={bot.id}>
                    {bot.emoji ? `${bot.emoji} ` : ''}
                    {bot.name}
                  </option>
                ))}
                {botMissing && <option value={step.bot}>{step.bot}</option>}
              </Select>
            )}
          </Field>
          <Field
            label={t('pipeline.step.inputMode')}
            hint={t(`pipeline.inputModeHint.${step.inputMode}` as MessageKey)}
            error={errors.get('inputMode')}
          >
            {(props) => (
              <Select
                {...props}
                value={step.inputMode}
                onChange={(e) => onPatch({ inputMode: e.target.value as StepForm['inputMode'] })}
              >
                {inputModes.map((mode) => (
                  <option key={mode} value={mode}>
                    {t(`pipeline.inputMode.${mode}` as MessageKey)}
                  </option>
                ))}
              </Select>
            )}
          </Field>
        </div>

        <div className="space-y-2">
          <Field
            label={t('pipeline.step.startsAfter')}
            hint={
              waitsFor.length === 0
                ? t('pipeline.step.startsWithPipeline')
                : t('pipeline.step.waitsFor', { steps: waitsFor.join(', ') })
            }
            error={step.startsAfter === 'steps' ? undefined : dependsOnError}
          >
            {(props) => (
              <Select
                {...props}
                className="sm:max-w-sm"
                value={step.startsAfter}
                onChange={(e) => onPatch({ startsAfter: e.target.value as StartsAfter })}
              >
                <option value="previous">{t('pipeline.startsAfter.previous')}</option>
                <option value="start">{t('pipeline.startsAfter.start')}</option>
                <option value="steps">{t('pipeline.startsAfter.steps')}</option>
              </Select>
            )}
          </Field>
          {step.startsAfter === 'steps' && (
            <fieldset
              className="rounded-md border border-slate-200 p-3 dark:border-slate-700"
              aria-describedby={dependsOnError ? `${uid}-deps-error` : undefined}
            >
              <legend className="px-1 text-sm font-medium">
                {t('pipeline.step.dependsOn', { key: name })}
              </legend>
              {others.length === 0 ? (
                <p className="text-sm text-slate-700 dark:text-slate-300">
                  {t('pipeline.step.noOtherSteps')}
                </p>
              ) : (
                <ul className="flex flex-wrap gap-x-4 gap-y-1">
                  {others.map((other) => (
                    <li key={other.id}>
                      <label className="flex items-center gap-2 text-sm">
                        <input
                          type="checkbox"
                          className="h-4 w-4"
                          checked={step.dependsOn.includes(other.id)}
                          onChange={(e) =>
                            onPatch({
                              dependsOn: e.target.checked
                                ? [...step.dependsOn, other.id]
                                : step.dependsOn.filter((d) => d !== other.id),
                            })
                          }
                        />
                        <span className="font-mono">{other.key.trim() || t('pipeline.step.untitled')}</span>
                      </label>
                    </li>
                  ))}
                </ul>
              )}
              <FieldNote id={`${uid}-deps-error`} error={dependsOnError} />
            </fieldset>
          )}
        </div>

        <ConditionEditor
          condition={step.condition}
          waitsFor={waitsForIds.map((id) => ({ id, key: nameOf(id) }))}
          nameOf={nameOf}
          error={conditionError}
          onChange={(condition) => onPatch({ condition })}
        />

        <fieldset className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700">
          <legend className="px-1 text-sm font-medium">{t('pipeline.approval')}</legend>
          <label className="flex items-center gap-2 text-sm">
            <input
              type="checkbox"
              className="h-4 w-4"
              checked={step.approval}
              onChange={(e) => onPatch({ approval: e.target.checked })}
            />
            {t('pipeline.approval.required')}
          </label>
          {step.approval && (
            <div className="grid gap-3 sm:grid-cols-2">
              <Field
                label={t('pipeline.approval.expires')}
                hint={t('pipeline.approval.expiresHint')}
                error={approvalError}
              >
                {(props) => (
                  <TextInput
                    {...props}
                    type="number"
                    min={1}
                    step="any"
                    value={step.expiresAfterMinutes}
                    onChange={(e) => onPatch({ expiresAfterMinutes: e.target.value })}
                  />
                )}
              </Field>
              <Field label={t('pipeline.approval.onExpiry')}>
                {(props) => (
                  <Select
                    {...props}
                    value={step.onExpiry}
                    onChange={(e) => onPatch({ onExpiry: e.target.value as StepForm['onExpiry'] })}
                  >
                    <option value="reject">{t('pipeline.approval.onExpiry.reject')}</option>
                    <option value="approve">{t('pipeline.approval.onExpiry.approve')}</option>
                  </Select>
                )}
              </Field>
            </div>
          )}
          {!step.approval && <FieldNote error={approvalError} />}
        </fieldset>

        <Field label={t('pipeline.step.errorPolicy')} error={errors.get('errorPolicy')}>
          {(props) => (
            <Select
              {...props}
              className="sm:max-w-sm"
              value={step.errorPolicy}
              onChange={(e) => onPatch({ errorPolicy: e.target.value as StepForm['errorPolicy'] })}
            >
              <option value="">{t('pipeline.step.errorPolicyInherit')}</option>
              {errorPolicies.map((policy) => (
                <option key={policy} value={policy}>
                  {t(`pipeline.errorPolicy.${policy}` as MessageKey)}
                </option>
              ))}
            </Select>
          )}
        </Field>
      </fieldset>
    </Card>
  )
}

function ConditionEditor({
  condition,
  waitsFor,
  nameOf,
  error,
  onChange,
}: {
  condition: ConditionForm
  /** The steps it waits for: the ones a condition may look at. */
  waitsFor: readonly { id: string; key: string }[]
  nameOf: (id: string) => string
  error: string | undefined
  onChange: (condition: ConditionForm) => void
}) {
  const { t } = useI18n()
  const errorId = useId()
  const patch = (next: Partial<ConditionForm>) => onChange({ ...condition, ...next })
  const kept = Object.entries(condition.kept)
  const textLabel: Partial<Record<ConditionKind, MessageKey>> = {
    contains: 'pipeline.condition.text.contains',
    equals: 'pipeline.condition.text.equals',
    matches: 'pipeline.condition.text.matches',
  }
  const textKey = textLabel[condition.kind]
  return (
    <fieldset
      className="space-y-3 rounded-md border border-slate-200 p-3 dark:border-slate-700"
      aria-describedby={error ? errorId : undefined}
    >
      <legend className="px-1 text-sm font-medium">{t('pipeline.condition')}</legend>
      <div className="grid gap-3 sm:grid-cols-2">
        <Field label={t('pipeline.condition.kind')}>
          {(props) => (
            <Select
              {...props}
              value={condition.kind}
              onChange={(e) => {
                const kind = e.target.value as ConditionKind
                patch({
                  kind,
                  value: kind === 'status' ? 'completed' : kind === condition.kind ? condition.value : '',
                })
              }}
            >
              {conditionKinds.map((kind) => (
                <option key={kind} value={kind}>
                  {t(`pipeline.condition.kind.${kind}` as MessageKey)}
                </option>
              ))}
            </Select>
          )}
        </Field>
        {condition.kind !== 'none' && (
          <Field label={t('pipeline.condition.step')} hint={t('pipeline.condition.stepHint')}>
            {(props) => (
              <Select {...props} value={condition.step} onChange={(e) => patch({ step: e.target.value })}>
                <option value="">
                  {waitsFor.length === 1
                    ? t('pipeline.condition.onlyDependency', { step: waitsFor[0]!.key })
                    : t('pipeline.condition.chooseStep')}
                </option>
                {waitsFor.map((step) => (
                  <option key={step.id} value={step.id}>
                    {step.key}
                  </option>
                ))}
                {condition.step && !waitsFor.some((step) => step.id === condition.step) && (
                  // A step it no longer waits for: kept so the server names the problem.
                  <option value={condition.step}>{nameOf(condition.step)}</option>
                )}
              </Select>
            )}
          </Field>
        )}
        {condition.kind === 'status' && (
          <Field label={t('pipeline.condition.status')}>
            {(props) => (
              <Select {...props} value={condition.value} onChange={(e) => patch({ value: e.target.value })}>
                {conditionStatuses.map((status) => (
                  <option key={status} value={status}>
                    {t(`stepStatus.${status}` as MessageKey)}
                  </option>
                ))}
              </Select>
            )}
          </Field>
        )}
        {textKey && (
          <Field label={t(textKey)}>
            {(props) => (
              <TextInput
                {...props}
                className={condition.kind === 'matches' ? 'font-mono' : undefined}
                spellCheck={condition.kind !== 'matches'}
                value={condition.value}
                onChange={(e) => patch({ value: e.target.value })}
              />
            )}
          </Field>
        )}
        {condition.kind === 'pointer' && (
          <>
            <Field label={t('pipeline.condition.pointer')} hint={t('pipeline.condition.pointerHint')}>
              {(props) => (
                <TextInput
                  {...props}
                  className="font-mono"
                  spellCheck={false}
                  placeholder="/offers/0/price"
                  value={condition.pointer}
                  onChange={(e) => patch({ pointer: e.target.value })}
                />
              )}
            </Field>
            <Field label={t('pipeline.condition.op')}>
              {(props) => (
                <Select
                  {...props}
                  value={condition.op}
                  onChange={(e) => patch({ op: e.target.value as ConditionForm['op'] })}
                >
                  {conditionOps.map((op) => (
                    <option key={op} value={op}>
                      {t(`pipeline.condition.op.${op}` as MessageKey)}
                    </option>
                  ))}
                </Select>
              )}
            </Field>
            {condition.op !== 'exists' && (
              <Field label={t('pipeline.condition.value')} hint={t('pipeline.condition.valueHint')}>
                {(props) => (
                  <TextInput
                    {...props}
                    className="font-mono"
                    spellCheck={false}
                    value={condition.value}
                    onChange={(e) => patch({ value: e.target.value })}
                  />
                )}
              </Field>
            )}
          </>
        )}
      </div>
      {condition.kind !== 'none' && kept.length > 0 && (
        <p className="text-xs text-slate-700 dark:text-slate-300">
          {t('pipeline.condition.kept', {
            tests: kept.map(([name, value]) => `${name} “${String(value)}”`).join(', '),
          })}
        </p>
      )}
      <FieldNote id={errorId} error={error} />
    </fieldset>
  )
}
