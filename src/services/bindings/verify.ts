import { createHmac, timingSafeEqual } from 'node:crypto';
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  retry,
  TaskCancelledError,
  timeout,
  TimeoutStrategy,
  wrap,
  type IPolicy,
} from 'cockatiel';
import type { Clock } from '../../platform/clock.ts';
import type { Logger } from '../../platform/log.ts';

/** The headers of a signed call, both ways (our calls out, departments' calls in). */
export const SIGNATURE_HEADERS = { system: 'x-weiban-system', timestamp: 'x-weiban-timestamp', signature: 'x-weiban-signature' } as const;


/** HMAC-SHA256 over `timestamp \n body`, hex. */
export function signBody(secret: string, timestamp: string, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}\n${body}`).digest('hex');
}

export function signatureMatches(secret: string, timestamp: string, body: string, given: string): boolean {
  const want = Buffer.from(signBody(secret, timestamp, body), 'hex');
  const got = Buffer.from(/^[0-9a-f]{64}$/i.test(given) ? given : '', 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A failure worth another try (a timeout, a connection refused, a 5xx). */
class Transient extends Error {}
/** An answer that is not one (not 200, not signed, not {ok}): not retried, but it counts towards opening the circuit. */
class BadAnswer extends Error {}

export interface HttpVerifierOptions {
  system: string;
  url: string;
  secret: string;
  timeoutMs: number;
  retries: number;
  breakerFailures: number;
  openSeconds: number;
  clock: Clock;
  log: Logger;
}

/**
 * Verification by the department's own system: a signed POST `{kind, fields}` answered with a
 * signed `{ok: true|false}`. A timeout per attempt, a retry with backoff, and a circuit breaker
 * (cockatiel) around both, so a dead system fails fast instead of stalling every citizen's binding
 * (and the callback thread) for the full timeout.
 */
export class HttpVerifier {
  private readonly policy: IPolicy;
  readonly breaker;

  constructor(private readonly o: HttpVerifierOptions) {
    this.breaker = circuitBreaker(handleWhen((e) => e instanceof Transient || e instanceof BadAnswer || e instanceof TaskCancelledError), {
      halfOpenAfter: o.openSeconds * 1000,
      breaker: new ConsecutiveBreaker(o.breakerFailures),
    });
    const retryPolicy = retry(handleWhen((e) => e instanceof Transient || e instanceof TaskCancelledError), {
      maxAttempts: o.retries,
      backoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }),
    });
    this.policy = wrap(retryPolicy, this.breaker, timeout(o.timeoutMs, TimeoutStrategy.Aggressive));
  }

  /** 'ok', 'mismatch', or 'unavailable' (timed out, refused, unsigned answer, circuit open). */
  async verify(kind: string, fields: Record<string, string>): Promise<'ok' | 'mismatch' | 'unavailable'> {
    const body = JSON.stringify({ kind, fields });
    try {
      return await this.policy.execute(async ({ signal }) => {
        const ts = String(Math.floor(this.o.clock.now() / 1000));
        let res: Response;
        try {
          res = await fetch(this.o.url, {
            method: 'POST',
            body,
            signal,
            headers: { 'content-type': 'application/json', [SIGNATURE_HEADERS.system]: this.o.system, [SIGNATURE_HEADERS.timestamp]: ts, [SIGNATURE_HEADERS.signature]: signBody(this.o.secret, ts, body) },
          });
        } catch (err) {
          if (signal.aborted) throw err;
          throw new Transient(`request failed: ${(err as Error).message}`);
        }
        const text = await res.text();
        if (res.status >= 500) throw new Transient(`status ${res.status}`);
        const rts = res.headers.get(SIGNATURE_HEADERS.timestamp) ?? '';
        const rsig = res.headers.get(SIGNATURE_HEADERS.signature) ?? '';
        if (res.status !== 200 || !signatureMatches(this.o.secret, rts, text, rsig)) {
          throw new BadAnswer(`answer refused: status ${res.status}${res.status === 200 ? ', not signed with the system key' : ''}`);
        }
        let ok: unknown;
        try {
          ok = (JSON.parse(text) as { ok?: unknown }).ok;
        } catch {
          ok = undefined;
        }
        if (typeof ok !== 'boolean') throw new BadAnswer('answer refused: expected {"ok": true|false}');
        return ok ? ('ok' as const) : ('mismatch' as const);
      });
    } catch (err) {
      const why = err instanceof BrokenCircuitError ? 'circuit open' : err instanceof TaskCancelledError ? 'timed out' : (err as Error).message;
      this.o.log.warn({ system: this.o.system, reason: why }, 'verification system unavailable');
      return 'unavailable';
    }
  }
}
