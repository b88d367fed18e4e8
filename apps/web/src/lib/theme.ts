// Light, dark or the system's choice: a `dark` class on <html> (Tailwind's dark variant follows it).

export type ThemeChoice = 'system' | 'light' | 'dark'
const storageKey = 'openorch.theme'
const media = () => window.matchMedia('(prefers-color-scheme: dark)')

export function loadTheme(): ThemeChoice {
  const saved = localStorage.getItem(storageKey)
  return saved === 'light' || saved === 'dark' ? saved : 'system'
}

export function applyTheme(choice: ThemeChoice): void {
  const dark = choice === 'dark' || (choice === 'system' && media().matches)
  document.documentElement.classList.toggle('dark', dark)
  document.documentElement.style.colorScheme = dark ? 'dark' : 'light'
}

export function saveTheme(choice: ThemeChoice): void {
  if (choice === 'system') localStorage.removeItem(storageKey)
  else localStorage.setItem(storageKey, choice)
  applyTheme(choice)
}

/** Follows the system while the choice is `system`. */
export function watchSystemTheme(current: () => ThemeChoice): () => void {
  const listener = () => {
    if (current() === 'system') applyTheme('system')
  }
  media().addEventListener('change', listener)
  return () => media().removeEventListener('change', listener)
}
