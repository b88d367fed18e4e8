import { type ReactNode, useId, useRef } from 'react'
import { useI18n } from '../lib/i18n.tsx'
import { Button, ErrorNote } from './ui.tsx'

// A button that asks first: a modal <dialog> (focus is trapped in it, Escape cancels, and the browser
// gives focus back to the button when it closes). "Cancel" has the focus, so Enter does no harm.

export interface ConfirmProps {
  /** The button's text, and its accessible name when it differs (e.g. "Remove anna@…"). */
  label: string
  accessibleLabel?: string
  title: string
  text: ReactNode
  confirmLabel: string
  busy: boolean
  error: unknown
  /** Runs the action; the dialog closes when it resolves to true. */
  onConfirm: () => Promise<boolean>
  disabled?: boolean
  /** After a successful action whose button is gone (a removed row): where focus goes instead. */
  focusAfter?: () => HTMLElement | null | undefined
}

export function ConfirmButton(props: ConfirmProps) {
  const { t } = useI18n()
  const dialog = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  const confirm = async () => {
    if (!(await props.onConfirm())) return
    dialog.current?.close()
    props.focusAfter?.()?.focus()
  }
  return (
    <>
      <Button
        variant="danger"
        className="px-2 py-1"
        disabled={props.disabled}
        aria-label={props.accessibleLabel}
        onClick={() => dialog.current?.showModal()}
      >
        {props.label}
      </Button>
      <dialog
        ref={dialog}
        aria-labelledby={titleId}
        className="m-auto max-w-md rounded-lg bg-white p-6 text-slate-900 backdrop:bg-black/50 dark:bg-slate-800 dark:text-slate-100"
      >
        <h2 id={titleId} className="text-lg font-semibold break-words">
          {props.title}
        </h2>
        <div className="mt-2 text-sm">{props.text}</div>
        <ErrorNote error={props.error} className="mt-3" />
        <div className="mt-4 flex flex-wrap justify-end gap-2">
          <Button autoFocus onClick={() => dialog.current?.close()}>
            {t('common.cancel')}
          </Button>
          <Button variant="danger" busy={props.busy} onClick={() => void confirm()}>
            {props.confirmLabel}
          </Button>
        </div>
      </dialog>
    </>
  )
}
