import { z } from 'zod';

/** Stable identifiers: used in usage counts, links and click keys. */
export const idSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,47}$/, { message: 'expected an id of lowercase letters, digits and dashes' });
