// A tool's refusal or failure: a stable `code` for programs and a message for the model that says
// what happened and what to do next. Kept here until the tools share one error type.
export class ToolError extends Error {
  readonly code: string

  constructor(code: string, message: string) {
    super(message)
    this.name = 'ToolError'
    this.code = code
  }
}
