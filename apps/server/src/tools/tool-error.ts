// A tool call that failed in a way the model and the user should read: a stable code for programs, a
// message in plain words for the run log (what went wrong, and what to do about it).

export class ToolError extends Error {
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ToolError'
    this.code = code
  }
}
