import { z } from 'zod'
import type { FileSpace, ToolContext, ToolSet } from '../tool.types.ts'
import { ToolError } from '../tool-error.ts'

// `files`: the bot's own files, kept between runs (what it has seen, lists, drafts). Unlike notes they
// are not part of every run's context: the bot reads them when it needs them. Every delete waits for a
// person's approval (the run parks until then).

const name = z.string().min(1).max(200).describe('A flat file name: letters, digits, spaces, ".", "_", "-".')

function spaceOf(context: ToolContext): FileSpace {
  if (!context.files) throw new ToolError('files_unavailable', 'This run has no file space.')
  return context.files
}

export const filesToolSet: ToolSet = {
  name: 'files',
  description:
    "The bot's own files, kept between runs: list, read, write, append (up to 1 MiB a file) and delete (after a person approves).",
  functions: [
    {
      name: 'files_list',
      description:
        'Lists the bot’s files with their size in bytes, content type (text/plain for text; image/png for a screenshot a tool stored) and when each was last written, newest first.',
      input: z.strictObject({}),
      execute: async (_input, context) => ({ files: await spaceOf(context).list() }),
    },
    {
      name: 'files_read',
      description:
        'Returns the content of one of the bot’s text files. Binary files (screenshots) cannot be read as text: they are for people to see.',
      input: z.strictObject({ name }),
      execute: (input, context) => spaceOf(context).read(input.name),
    },
    {
      name: 'files_write',
      description: 'Creates or replaces one of the bot’s files with the given text.',
      input: z.strictObject({ name, content: z.string().max(1024 * 1024) }),
      execute: (input, context) => spaceOf(context).write(input.name, input.content),
    },
    {
      name: 'files_append',
      description:
        'Adds text to the end of one of the bot’s files (creates it if missing), e.g. one line per item seen.',
      input: z.strictObject({ name, content: z.string().max(1024 * 1024) }),
      execute: (input, context) => spaceOf(context).append(input.name, input.content),
    },
    {
      name: 'files_delete',
      description:
        'Deletes one of the bot’s files for good. A person approves every delete first: say why in your message.',
      input: z.strictObject({ name }),
      requiresApproval: true,
      execute: async (input, context) => {
        await spaceOf(context).delete(input.name)
        return { deleted: input.name }
      },
    },
  ],
}
