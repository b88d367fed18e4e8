import { z } from 'zod'
import type { ToolSet } from '../tool.types.ts'
import { runCode, runCodeDescription } from './run-code.ts'

// `code`: JavaScript in a WebAssembly sandbox (QuickJS in worker threads): no network, no files, no
// host; 5 s and 32 MiB a call. For arithmetic, parsing and reshaping data the model should not do in
// its head.
export const codeToolSet: ToolSet = {
  name: 'code',
  description: 'Run JavaScript in a sandbox (no network, no files): compute, parse and reshape data exactly.',
  functions: [
    {
      name: 'run_code',
      description: runCodeDescription,
      input: z.strictObject({
        code: z
          .string()
          .min(1)
          .max(100_000)
          .describe('JavaScript; the value of the last expression is the result.'),
        input: z.unknown().optional().describe('Any JSON, available to the code as `input`.'),
      }),
      execute: (input, context) => runCode(input, { signal: context.signal }),
    },
  ],
}
