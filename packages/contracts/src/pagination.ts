import { z } from 'zod'

// Cursor pagination, the same for every list: `?limit=1..200&cursor=` → `{ items, nextCursor }`.

export const maxPageLimit = 200
export const defaultPageLimit = 50

export const pageQuerySchema = z.object({
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(maxPageLimit)
    .default(defaultPageLimit)
    .describe(`Items per page, 1 to ${maxPageLimit} (default ${defaultPageLimit}).`),
  cursor: z
    .string()
    .regex(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
      'must be a nextCursor returned by this list',
    )
    .optional()
    .describe('Opaque: the `nextCursor` of the previous page. Omit it for the first page.'),
})

/**
 * The pagination query every list accepts.
 *
 * @example
 * const query: PageQuery = { limit: 50, cursor: undefined }
 */
export type PageQuery = z.infer<typeof pageQuerySchema>

/** A page of `item`: newest first, `nextCursor` null on the last page. */
export function pageSchemaOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` to get the next page; null on the last page.'),
  })
}

/**
 * A page of a list.
 *
 * @example
 * const page: Page<{ id: string }> = { items: [{ id: 'a' }], nextCursor: null }
 */
export interface Page<T> {
  items: T[]
  nextCursor: string | null
}
