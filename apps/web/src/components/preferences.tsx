import { useEffect, useRef, useState } from 'react'
import { type Lang, useI18n } from '../lib/i18n.tsx'
import { loadTheme, saveTheme, type ThemeChoice, watchSystemTheme } from '../lib/theme.ts'

// Language and light/dark mode, in the header of every page (sign-in included).

export function Preferences() {
  const { t, lang, setLang } = useI18n()
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme)
  const themeRef = useRef(theme)
  themeRef.current = theme
  useEffect(() => watchSystemTheme(() => themeRef.current), [])
  const selectClass =
    'rounded-md border border-slate-300 bg-white px-2 py-1 text-sm dark:border-slate-600 dark:bg-slate-900'
  return (
    <>
      <label className="sr-only" htmlFor="pref-lang">
        {t('prefs.language')}
      </label>
      <select
        id="pref-lang"
        value={lang}
        onChange={(event) => setLang(event.target.value as Lang)}
        className={selectClass}
      >
        <option value="en">English</option>
        <option value="de">Deutsch</option>
      </select>
      <label className="sr-only" htmlFor="pref-theme">
        {t('prefs.theme')}
      </label>
      <select
        id="pref-theme"
        value={theme}
        onChange={(event) => {
          const next = event.target.value as ThemeChoice
          setTheme(next)
          saveTheme(next)
        }}
        className={selectClass}
      >
        <option value="system">{t('prefs.theme.system')}</option>
        <option value="light">{t('prefs.theme.light')}</option>
        <option value="dark">{t('prefs.theme.dark')}</option>
      </select>
    </>
  )
}
