import { createContext, useContext } from 'react'
import type { SignInNotice } from '../pages/sign-in.tsx'

// Ends the tab's session and shows the sign-in page with a word why. The app provides it, so a page
// (the Account page's "sign out everywhere") ends the session the same way the account menu does.

type SignOut = (why: SignInNotice) => void

const SignOutContext = createContext<SignOut | null>(null)

/** The Account page's "sign out everywhere" section: the account menu links to it. */
export const signOutEverywhereId = 'sign-out-everywhere'

export const SignOutProvider = SignOutContext.Provider

export function useSignOut(): SignOut {
  const signOut = useContext(SignOutContext)
  if (!signOut) throw new Error('useSignOut outside SignOutProvider')
  return signOut
}
