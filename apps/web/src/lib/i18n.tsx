import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react'
import { de } from '../i18n/de.ts'
import { en, type MessageKey } from '../i18n/en.ts'
import type { Lang } from './schedule-words.ts'

// English and German. Every string of the dashboard is a key of `en`; `de` must have every key (the
// type checker says so). The language follows the browser until the person picks one.

export type { Lang, MessageKey }

const dictionaries: Record<Lang, Record<MessageKey, string>> = { en, de }
const storageKey = 'openorch.lang'

export function detectLang(): Lang {
  const saved = localStorage.getItem(storageKey)
  if (saved === 'en' || saved === 'de') return saved
  for (const tag of navigator.languages ?? [navigator.language]) {
    const base = tag.toLowerCase().split('-')[0]
    if (base === 'de' || base === 'en') return base
  }
  return 'en'
}

export type Translate = (key: MessageKey, vars?: Record<string, string | number>) => string

export function translate(lang: Lang, key: MessageKey, vars?: Record<string, string | number>): string {
  const text = dictionaries[lang][key] ?? en[key]
  if (!vars) return text
  return text.replace(/\{(\w+)\}/g, (whole, name: string) =>
    vars[name] === undefined ? whole : String(vars[name]),
  )
}

interface I18n {
  lang: Lang
  setLang(lang: Lang): void
  t: Translate
}

const I18nContext = createContext<I18n | null>(null)

export function I18nProvider({ children }: { children: ReactNode }) {
  const [lang, setLangState] = useState<Lang>(detectLang)
  useEffect(() => {
    document.documentElement.lang = lang
  }, [lang])
  const setLang = useCallback((next: Lang) => {
    localStorage.setItem(storageKey, next)
    setLangState(next)
  }, [])
  const value = useMemo<I18n>(
    () => ({ lang, setLang, t: (key, vars) => translate(lang, key, vars) }),
    [lang, setLang],
  )
  return <I18nContext.Provider value={value}>{children}</I18nContext.Provider>
}

export function useI18n(): I18n {
  const value = useContext(I18nContext)
  if (!value) throw new Error('useI18n outside I18nProvider')
  return value
}
