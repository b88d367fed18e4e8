// A bot's note or tool file (migration 0022), stored as text. `size` is its UTF-8 byte length.
export interface BotFilesTable {
  bot_id: string
  /** `notes` (part of every run's context) or `files` (the files tool set's space). */
  space: string
  name: string
  tenant_id: string
  content: string
  size: number
  updated_at: number
}
