/**
 * Who may do what, in one place below every capability that asks: the roles (roles.ts) and each
 * capability's rules beside them. Routes and commands ask these functions; they never compare roles
 * themselves. A new capability adds its file here and exports it below.
 */
export * from './roles.ts';
export * from './inbox.ts';
export * from './panel.ts';
export * from './cases.ts';
export * from './tickets.ts';
export * from './bindings.ts';
export * from './bills.ts';
export * from './ops.ts';
