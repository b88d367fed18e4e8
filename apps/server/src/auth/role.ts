// Roles, from most to least powerful. A role may do everything the roles below it may.
export type Role = 'owner' | 'admin' | 'editor' | 'viewer'

export const roles: readonly Role[] = ['owner', 'admin', 'editor', 'viewer']

export function isRole(value: string): value is Role {
  return (roles as readonly string[]).includes(value)
}

/** True when `role` is `required` or above it. */
export function hasRole(role: Role, required: Role): boolean {
  return roles.indexOf(role) <= roles.indexOf(required)
}
