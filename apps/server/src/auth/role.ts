// The roles live in platform/http/caller.ts, since every domain's routes check them; re-exported here
// for the modules that import them from auth/.
export { hasRole, isRole, type Role, roles } from '../platform/http/caller.ts'
