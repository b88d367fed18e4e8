// The API keys' public surface for other domains (users revoke a person's keys).
export { type RevokedKey, revokeKeysOfUser } from './api-key.store.ts'
