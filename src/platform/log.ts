/**
 * The structured logger: pino, with personal data masked on every emitted line.
 *
 * Where masking happens (pino 10 semantics, see node_modules/pino/docs/api.md):
 *  - `hooks.logMethod` — object and Error interpolation arguments (`log.info('%o', user)`) are
 *    replaced by masked copies. Pino installs the hook only on enabled levels (disabled levels are
 *    no-ops), so nothing is masked for lines that are not written.
 *  - `formatters.log` — the merged object (`log.info({ user }, …)`, `log.error(err)`, `{ err }`)
 *    goes through `maskDeep`; errors become `{ type, message, stack, … }` with message and stack
 *    masked. It runs inside pino's serialisation of an emitted line.
 *  - `serializers.msg` — the final message, after printf interpolation, `msgPrefix` and the
 *    fallback to an error's message, goes through `maskText`. This covers string and number
 *    arguments (`log.info('user %s', '13812345678')`) and anything spliced into the format string.
 *  - `child()` / `setBindings()` — pino serialises child bindings once, when the child is made, and
 *    bypasses `formatters.bindings` for children; so the root logger's `child` and `setBindings`
 *    are wrapped to mask the bindings first (children inherit the wrappers through pino's
 *    prototype chain). This cost is paid once per child, not per line.
 *  - `base` — trusted configuration; its strings go through `maskText` only (a `name` key there
 *    is a service name, not a person).
 *
 * A masking failure never throws out of a log call: the affected object is replaced by a marker.
 */
import { pino } from 'pino';
import type { DestinationStream, Logger as PinoLogger, LoggerOptions, LogFn } from 'pino';
import { maskDeep, maskText } from './pii.ts';

export type Logger = PinoLogger;

export interface CreateLoggerOptions {
  /** trace | debug | info | warn | error | fatal | silent. Default: env LOG_LEVEL, else 'info'. */
  level?: string;
  /** Where JSON lines go. Default: stdout. */
  destination?: NodeJS.WritableStream | { write(s: string): void };
  /** Fields on every line. Replaces pino's default `{ pid, hostname }`, as in pino. */
  base?: Record<string, unknown>;
}

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

function safeMaskDeep<T>(value: T): T | string {
  try {
    return maskDeep(value);
  } catch {
    return '[unmaskable value omitted]';
  }
}

/** A masked stand-in for an Error used as an interpolation argument: `%s` still prints "Name: message". */
function maskedErrorArg(e: Error): Error {
  const masked = safeMaskDeep(e) as Record<string, unknown> | string;
  const clone = new Error(typeof masked === 'string' ? masked : String(masked.message ?? ''));
  clone.name = typeof e.name === 'string' ? maskText(e.name) : 'Error';
  if (typeof masked !== 'string') {
    clone.stack = typeof masked.stack === 'string' ? masked.stack : undefined;
    for (const [k, v] of Object.entries(masked)) {
      if (k !== 'message' && k !== 'stack' && k !== 'type' && k !== 'name') {
        (clone as unknown as Record<string, unknown>)[k] = v;
      }
    }
  }
  return clone;
}

function maskArg(arg: unknown): unknown {
  if (arg === null || typeof arg !== 'object') return arg; // strings and numbers: masked in the final msg
  if (arg instanceof Error) return maskedErrorArg(arg);
  return safeMaskDeep(arg);
}

function logMethod(this: PinoLogger, args: Parameters<LogFn>, method: LogFn): void {
  // pino: an object (or null) first means (mergingObject, msg, ...interpolation);
  // otherwise (msg, ...interpolation). The merging object is masked by formatters.log.
  const a = args as unknown[];
  const first = typeof a[0] === 'object' ? 2 : 1;
  for (let i = first; i < a.length; i++) a[i] = maskArg(a[i]);
  method.apply(this, args);
}

function serializeMsg(msg: unknown): unknown {
  if (typeof msg === 'string') return maskText(msg);
  if (typeof msg === 'number' || typeof msg === 'bigint') {
    const s = String(msg);
    const masked = maskText(s);
    return masked === s ? msg : masked;
  }
  return safeMaskDeep(msg);
}

/** By the time pino serialises `err`, formatters.log has already turned an Error into a masked object. */
function serializeErr(err: unknown): unknown {
  return err instanceof Error ? safeMaskDeep(err) : err;
}

function formatLog(obj: Record<string, unknown>): Record<string, unknown> {
  const masked = safeMaskDeep(obj);
  return typeof masked === 'string' ? { maskError: masked } : masked;
}

function resolveLevel(explicit: string | undefined): { level: string; badEnv?: string } {
  if (explicit !== undefined) return { level: explicit };
  const env = process.env.LOG_LEVEL;
  if (env === undefined || env.trim() === '') return { level: 'info' };
  const level = env.trim().toLowerCase();
  return LEVELS.has(level) ? { level } : { level: 'info', badEnv: env };
}

/**
 * Creates the application logger. Output is pino's newline-delimited JSON, to stdout unless a
 * destination is given. Level: `opts.level`, else env LOG_LEVEL, else 'info' (an unrecognised
 * LOG_LEVEL falls back to 'info' with a warning line; an unrecognised `opts.level` throws).
 */
export function createLogger(opts: CreateLoggerOptions = {}): Logger {
  const { level, badEnv } = resolveLevel(opts.level);
  const options: LoggerOptions = {
    level,
    serializers: { err: serializeErr, msg: serializeMsg },
    formatters: { log: formatLog },
    hooks: { logMethod },
  };
  if (opts.base !== undefined) options.base = maskDeep(opts.base, { keyRules: false });

  const logger = opts.destination === undefined ? pino(options) : pino(options, opts.destination as DestinationStream);

  const child = logger.child;
  const setBindings = logger.setBindings;
  // Own properties on the root; every descendant inherits them (pino children are Object.create(parent)).
  logger.child = function maskedChild(this: Logger, bindings, childOpts) {
    return child.call(this, maskDeep(bindings), childOpts);
  } as Logger['child'];
  logger.setBindings = function maskedSetBindings(this: Logger, bindings) {
    setBindings.call(this, maskDeep(bindings));
  };

  if (badEnv !== undefined) {
    logger.warn({ LOG_LEVEL: badEnv }, 'unrecognised LOG_LEVEL, using info');
  }
  return logger;
}
