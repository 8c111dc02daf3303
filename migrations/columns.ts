import type { QueryRunner, TableColumnOptions } from 'typeorm';

/**
 * Column shapes that mean the same on SQLite and PostgreSQL. Times are bigint epoch milliseconds,
 * JSON is text, booleans are the driver's boolean.
 */
export const col = {
  id: (name = 'id'): TableColumnOptions => ({ name, type: 'integer', isPrimary: true, isGenerated: true, generationStrategy: 'increment' }),
  string: (name: string, length: number, extra: Partial<TableColumnOptions> = {}): TableColumnOptions => ({ name, type: 'varchar', length: String(length), ...extra }),
  text: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'text', isNullable: nullable }),
  int: (name: string, dflt?: number, nullable = false): TableColumnOptions => ({ name, type: 'integer', isNullable: nullable, default: dflt }),
  time: (name: string, nullable = false): TableColumnOptions => ({ name, type: 'bigint', isNullable: nullable }),
  /** SQLite stores booleans as 0/1 and PostgreSQL refuses an integer default for a boolean. */
  bool: (q: QueryRunner, name: string, dflt: boolean): TableColumnOptions => ({
    name,
    type: 'boolean',
    default: q.connection.options.type === 'postgres' ? dflt : Number(dflt),
  }),
};
