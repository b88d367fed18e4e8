// One catalogue of failures. An AppError is rendered as RFC 9457 problem+json by the HTTP layer;
// a failed run stores the same { code, message } as data.

export interface FieldError {
  field: string
  message: string
  /** A stable code for this refusal where there is one (a password's `password_breached`). */
  code?: string
}

export class AppError extends Error {
  readonly code: string
  readonly status: number
  readonly extra: {
    errors?: FieldError[]
    retryAfterMs?: number
    headers?: Record<string, string>
    /** Further members of the problem (`quota` and `limit` of quota_exceeded). */
    members?: Record<string, string | number>
  }

  constructor(code: string, message: string, status = 400, extra: AppError['extra'] = {}) {
    super(message)
    this.name = 'AppError'
    this.code = code
    this.status = status
    this.extra = extra
  }
}

export function notFound(code: string, message: string): AppError {
  return new AppError(code, message, 404)
}

/** Normalises anything thrown into an Error, once, at the edge where it is caught. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value
  if (typeof value === 'string') return new Error(value)
  try {
    return new Error(JSON.stringify(value))
  } catch {
    return new Error(String(value))
  }
}
