import type { ButtonHTMLAttributes, ComponentProps, ReactNode } from 'react'
import { useId } from 'react'
import { describeError } from '../lib/errors.ts'
import { type MessageKey, useI18n } from '../lib/i18n.tsx'

// Small accessible building blocks: visible focus rings, labels tied to their fields, errors
// announced where they happen.

const focus =
  'focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 dark:focus-visible:outline-indigo-400'

export function cx(...classes: (string | false | null | undefined)[]): string {
  return classes.filter(Boolean).join(' ')
}

type Variant = 'primary' | 'secondary' | 'danger' | 'ghost'
const variants: Record<Variant, string> = {
  primary:
    'bg-indigo-700 text-white hover:bg-indigo-800 dark:bg-indigo-400 dark:text-slate-950 dark:hover:bg-indigo-300',
  secondary:
    'border border-slate-300 bg-white text-slate-900 hover:bg-slate-100 dark:border-slate-600 dark:bg-slate-800 dark:text-slate-100 dark:hover:bg-slate-700',
  danger: 'bg-red-700 text-white hover:bg-red-800 dark:bg-red-500 dark:text-slate-950 dark:hover:bg-red-400',
  ghost: 'text-slate-700 hover:bg-slate-100 dark:text-slate-200 dark:hover:bg-slate-800',
}

export function Button({
  variant = 'secondary',
  busy = false,
  className,
  children,
  ...props
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; busy?: boolean }) {
  return (
    <button
      type="button"
      {...props}
      disabled={props.disabled || busy}
      aria-busy={busy || undefined}
      className={cx(
        'inline-flex items-center justify-center gap-2 rounded-md px-3 py-2 text-sm font-medium disabled:cursor-not-allowed disabled:opacity-60',
        focus,
        variants[variant],
        className,
      )}
    >
      {busy && <Spinner />}
      {children}
    </button>
  )
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span
      role={label ? 'status' : undefined}
      className="inline-block h-4 w-4 animate-spin rounded-full border-2 border-current border-r-transparent"
    >
      {label && <span className="sr-only">{label}</span>}
    </span>
  )
}

export function Loading() {
  const { t } = useI18n()
  return (
    <p className="flex items-center gap-2 py-6 text-slate-600 dark:text-slate-300" role="status">
      <Spinner /> {t('common.loading')}
    </p>
  )
}

export const inputClass = cx(
  'block w-full rounded-md border border-slate-300 bg-white px-3 py-2 text-sm text-slate-900 placeholder:text-slate-500 dark:border-slate-600 dark:bg-slate-900 dark:text-slate-100 dark:placeholder:text-slate-400',
  focus,
)

interface FieldProps {
  label: string
  hint?: ReactNode
  error?: string | undefined
  children: (props: { id: string; 'aria-describedby'?: string; 'aria-invalid'?: boolean }) => ReactNode
}

export function Field({ label, hint, error, children }: FieldProps) {
  const id = useId()
  const hintId = `${id}-hint`
  const errorId = `${id}-error`
  const describedBy = [hint ? hintId : null, error ? errorId : null].filter(Boolean).join(' ')
  return (
    <div className="space-y-1">
      <label htmlFor={id} className="block text-sm font-medium text-slate-800 dark:text-slate-200">
        {label}
      </label>
      {children({
        id,
        ...(describedBy ? { 'aria-describedby': describedBy } : {}),
        ...(error ? { 'aria-invalid': true } : {}),
      })}
      {hint && (
        <p id={hintId} className="text-xs text-slate-600 dark:text-slate-400">
          {hint}
        </p>
      )}
      {error && (
        <p id={errorId} className="text-sm text-red-700 dark:text-red-300">
          {error}
        </p>
      )}
    </div>
  )
}

export function TextInput(props: ComponentProps<'input'>) {
  return <input {...props} className={cx(inputClass, props.className)} />
}

export function Select(props: ComponentProps<'select'>) {
  return <select {...props} className={cx(inputClass, props.className)} />
}

export function TextArea(props: ComponentProps<'textarea'>) {
  return <textarea {...props} className={cx(inputClass, props.className)} />
}

export function Card({ children, className }: { children: ReactNode; className?: string }) {
  return (
    <div
      className={cx(
        'rounded-lg border border-slate-200 bg-white p-4 shadow-sm dark:border-slate-700 dark:bg-slate-800',
        className,
      )}
    >
      {children}
    </div>
  )
}

/** An API error where it happened: what went wrong in words, and each bad field. */
export function ErrorNote({
  error,
  className,
  words,
}: {
  error: unknown
  className?: string
  /** Other sentences for some codes, where they happen. */
  words?: Partial<Record<string, MessageKey>>
}) {
  const { t } = useI18n()
  if (!error) return null
  const described = describeError(error, t, words)
  return (
    <div
      role="alert"
      className={cx(
        'rounded-md border border-red-300 bg-red-50 p-3 text-sm text-red-900 dark:border-red-700 dark:bg-red-950 dark:text-red-100',
        className,
      )}
    >
      <p className="font-medium">{described.message}</p>
      {described.detail && described.detail !== described.message && (
        <p className="mt-1 text-red-800 dark:text-red-200">{described.detail}</p>
      )}
      {described.fields.length > 0 && (
        <ul className="mt-1 list-inside list-disc">
          {described.fields.map((f) => (
            <li key={f.field + f.message}>
              <span className="font-mono">{f.field}</span>: {f.message}
            </li>
          ))}
        </ul>
      )}
      {described.code && <p className="mt-1 font-mono text-xs opacity-80">{described.code}</p>}
    </div>
  )
}

export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="rounded-lg border border-dashed border-slate-300 p-8 text-center dark:border-slate-600">
      <p className="font-medium text-slate-800 dark:text-slate-100">{title}</p>
      {children && <div className="mt-2 text-sm text-slate-600 dark:text-slate-300">{children}</div>}
    </div>
  )
}

const statusStyles: Record<string, string> = {
  completed: 'bg-emerald-100 text-emerald-900 dark:bg-emerald-900 dark:text-emerald-100',
  failed: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  timeout: 'bg-red-100 text-red-900 dark:bg-red-900 dark:text-red-100',
  cancelled: 'bg-slate-200 text-slate-900 dark:bg-slate-700 dark:text-slate-100',
  running: 'bg-sky-100 text-sky-900 dark:bg-sky-900 dark:text-sky-100',
  pending: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
  waiting: 'bg-amber-100 text-amber-900 dark:bg-amber-900 dark:text-amber-100',
}

export const statusIcon: Record<string, string> = {
  completed: '✅',
  failed: '❌',
  timeout: '⏱️',
  cancelled: '⏹️',
  running: '⏳',
  pending: '🕓',
  waiting: '⏸️',
}

export function StatusBadge({ status }: { status: string }) {
  const { t } = useI18n()
  return (
    <span
      className={cx(
        'inline-flex items-center gap-1 rounded-full px-2 py-0.5 text-xs font-medium',
        statusStyles[status],
      )}
    >
      <span aria-hidden="true">{statusIcon[status]}</span>
      {t(`status.${status}` as 'status.completed')}
    </span>
  )
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex flex-wrap items-center justify-between gap-3">
      <h1 className="text-2xl font-semibold text-slate-900 dark:text-white">{children}</h1>
      {actions && <div className="flex flex-wrap gap-2">{actions}</div>}
    </div>
  )
}
