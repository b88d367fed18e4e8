import { ApiError } from '@openorch/sdk'
import { describe, expect, it } from 'vitest'
import { fieldRefusal } from './errors.ts'
import { type Translate, translate } from './i18n.tsx'

const german: Translate = (key, vars) => translate('de', key, vars)
const english: Translate = (key, vars) => translate('en', key, vars)

function refused(errors: Array<{ field: string; message: string; code?: string }>) {
  return new ApiError(
    400,
    {
      type: 'https://openorch.dev/problems/validation_failed',
      title: 'Bad Request',
      status: 400,
      code: 'validation_failed',
      detail: 'The body has invalid fields.',
      errors,
    },
    'validation failed',
  )
}

describe('a refused field in the person’s language', () => {
  it('words a password refusal by its code, and keeps the server’s words for anything else', () => {
    const error = refused([
      { field: 'password', message: 'must be at least 12 characters long', code: 'password_too_short' },
      { field: 'email', message: 'is not an e-mail address' },
    ])
    expect(fieldRefusal(error, 'password', german)).toBe('es braucht mindestens 12 Zeichen')
    expect(fieldRefusal(error, 'password', english)).toBe('must be at least 12 characters long')
    expect(fieldRefusal(error, 'email', german)).toBe('is not an e-mail address')
    expect(fieldRefusal(error, 'role', german)).toBeUndefined()
    // An unknown code (a newer server) falls back to the server's sentence.
    const newer = refused([{ field: 'password', message: 'is on our own list', code: 'password_custom' }])
    expect(fieldRefusal(newer, 'password', german)).toBe('is on our own list')
    expect(fieldRefusal(new Error('x'), 'password', german)).toBeUndefined()
  })
})
