import type { Generated } from 'kysely'

// A bot's note or tool file (migrations 0022, 0027). `size` is its byte length: of the UTF-8 text, or
// of the bytes a base64 `content` spells.
export interface BotFilesTable {
  bot_id: string
  /** `notes` (part of every run's context) or `files` (the files tool set's space). */
  space: string
  name: string
  tenant_id: string
  content: string
  size: number
  updated_at: number
  /** `utf8`: `content` is the text; `base64`: `content` is the bytes of a binary file in base64. */
  encoding: Generated<string>
  /** What the file is served as: `text/plain; charset=utf-8` for text, e.g. `image/png` for a screenshot. */
  content_type: Generated<string>
}
