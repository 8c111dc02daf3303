import type { Context, Middleware, Next } from 'koa';
import compose from 'koa-compose';
import getRawBody from 'raw-body';
import type { Clock } from '../platform/clock.ts';
import type { Kv } from '../platform/kv/index.ts';
import type { Logger } from '../platform/log.ts';
import { isUtf8 } from 'node:buffer';
import { randomChunk, WeChatCrypto, WeChatCryptoError } from './crypto.ts';
import { dedupKey, MessageError, toMessage, type InboundMessage } from './messages.ts';
import { renderReply, type Reply } from './replies.ts';
import { RecentKeys } from './recent.ts';
import { verifyMessageSignature, verifyPlainSignature } from './signature.ts';
import { parseWeChatXml, text, XmlError, type XmlObject } from './xml.ts';

export interface CallbackConfig {
  token: string;
  appid: string;
  aesKey?: string;
  encoding: 'plain' | 'compatible' | 'safe';
  requireEncryption: boolean;
  maxBodyBytes: number;
  replyTimeoutMs: number;
  /** 0 turns the timestamp window off. */
  maxClockSkewSeconds: number;
  dedupTtlSeconds: number;
}

/**
 * One callback attempt (one HTTP request from WeChat), carried through verify → decrypt → parse →
 * de-duplicate → dispatch → store → reply. Request-scoped: whatever a step learns about the
 * attempt lives here, not in maps keyed by message.
 */
export interface Attempt {
  /** Real time the request arrived (ms): WeChat's reply window runs from here. */
  readonly arrivedAt: number;
  query: Query;
  body: string;
  encrypted: boolean;
  xml: XmlObject;
  message: InboundMessage;
  /** Bounded (≤ MAX_DEDUP_KEY characters), stable across retries. */
  dedupKey: string;
  reply: Reply | null;
  /**
   * No earlier attempt of this message was answered: a shared store (Redis) keeps a mark of every
   * answered message for the de-duplication window, across instances and restarts of this
   * process; without one, this process has been up for longer than that window and has not seen
   * the message. The handler need not ask its own record first.
   */
  firstAttempt?: boolean;
  /**
   * Set by the handler when the message was already stored and its reply is the one stored then
   * (a retry after a restart, or one that reached another instance): nothing new to store.
   */
  answeredBefore?: boolean;
  /** The handler's own request-scoped state (which route answered, what follows the reply). */
  handler?: unknown;
}

/** What the conversation layer provides: the protocol layer knows nothing else about it. */
export interface MessageHandler {
  /**
   * Produce the reply to a message (null: nothing to say). The callback calls it for one attempt
   * of a message at a time; the handler is the durable record: a message it has stored before is
   * answered from the reply stored then (setting `answeredBefore`), or handled again when no
   * reply was stored (the process died in between).
   */
  handle(attempt: Attempt): Promise<Reply | null>;
  /**
   * The reply is about to go out in the HTTP response: store it durably before it does. Returns
   * the reply to send — the one stored before, when another attempt answered the message first.
   */
  replied(attempt: Attempt, reply: Reply): Promise<Reply | void>;
  /** `handle` outran the reply window: the reply must go out another way (customer-service message). */
  late(attempt: Attempt, reply: Reply): Promise<void>;
  /** Reply given when `handle` throws. */
  errorReply?: Reply;
}

export interface CallbackDeps {
  config: CallbackConfig;
  kv: Kv;
  clock: Clock;
  log: Logger;
  handler: MessageHandler;
}

export interface Query {
  signature?: string;
  timestamp?: string;
  nonce?: string;
  echostr?: string;
  encrypt_type?: string;
  msg_signature?: string;
}

type Ctx = Context & { state: { wx: Attempt } };

/** Refusals: a status and a reason that is safe to log (never the body, never an openid). */
class Refusal extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * What the shared store knows of a message, kept small (one letter): pending while one attempt
 * handles it (removed when it is answered: the handler's durable store answers later retries),
 * or silent / late for a while (no reply was stored for those, so a retry must not handle them
 * again).
 */
const PENDING = 'p';
const SILENT = 's';
const LATE = 'l';
/** Answered, its reply stored (kept only by a shared store; see `remembersAnswers`). */
const ANSWERED = 'a';
const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * How long a claim on a message lives: the handling attempt answers (or hands over to a late
 * reply) within the reply window, so a claim older than that belongs to a process that died; the
 * next retry (WeChat retries after 5 s) takes it over instead of answering `success` for ever.
 */
export function claimTtlMs(replyTimeoutMs: number): number {
  return replyTimeoutMs + 1000;
}

/**
 * The WeChat message callback, as a short composition: verify → decrypt → parse → deduplicate →
 * dispatch → reply. Serves GET (URL check) and POST at the path it is mounted on.
 */
export function wechatCallback(deps: CallbackDeps): Middleware {
  const { config, kv, clock, log, handler } = deps;
  const crypto = config.aesKey ? new WeChatCrypto(config.token, config.aesKey, config.appid) : null;
  const dedupTtl = config.dedupTtlSeconds * 1000;
  const pendingTtl = claimTtlMs(config.replyTimeoutMs);
  /**
   * A shared store (Redis) keeps a mark of each answered message for the de-duplication window:
   * a claim it grants is then a first attempt, and the handler need not read its record before
   * answering. The in-process store forgets answered messages at once (its memory is the
   * process's) and is forgotten by a restart: the handler's record decides there.
   */
  const remembersAnswers = kv.backend === 'redis';
  /**
   * Without such a store, this process keeps which messages it claimed lately, in fixed memory
   * (a Bloom filter; see RecentKeys). Once it has been up for longer than the de-duplication
   * window — WeChat retries a message only within it — a claim on a message it has not seen is
   * the first attempt; until then, and for a "maybe", the handler reads its record.
   */
  const recent = remembersAnswers ? null : new RecentKeys(dedupTtl, clock);
  const startedAt = clock.now();

  async function refuseBadInput(ctx: Ctx, next: Next) {
    try {
      await next();
    } catch (err) {
      if (err instanceof Refusal) {
        log.warn({ status: err.status, reason: err.reason, method: ctx.method }, 'wechat callback refused');
        ctx.status = err.status;
        ctx.type = 'text/plain';
        ctx.body = err.status === 413 ? 'payload too large' : err.reason;
        return;
      }
      throw err;
    }
  }

  async function verify(ctx: Ctx, next: Next) {
    const q = ctx.query as Query;
    for (const k of ['signature', 'timestamp', 'nonce', 'echostr', 'encrypt_type', 'msg_signature'] as const) {
      if (Array.isArray(q[k])) throw new Refusal(400, `repeated query parameter ${k}`);
    }
    if (!verifyPlainSignature(config.token, q) && !(q.encrypt_type === 'aes' && q.msg_signature)) {
      throw new Refusal(403, 'invalid signature');
    }
    if (config.maxClockSkewSeconds > 0) {
      const ts = Number(q.timestamp);
      if (!Number.isFinite(ts) || Math.abs(clock.now() / 1000 - ts) > config.maxClockSkewSeconds) {
        throw new Refusal(403, 'timestamp outside the accepted window');
      }
    }
    ctx.state.wx = { arrivedAt: Date.now(), query: q } as Attempt;
    await next();
  }

  async function urlCheck(ctx: Ctx) {
    const q = ctx.state.wx.query;
    if (!verifyPlainSignature(config.token, q)) throw new Refusal(403, 'invalid signature');
    if (typeof q.echostr !== 'string' || q.echostr === '') throw new Refusal(400, 'missing echostr');
    ctx.type = 'text/plain';
    ctx.body = q.echostr;
  }

  async function readBody(ctx: Ctx, next: Next) {
    const declared = Number(ctx.get('content-length') || NaN);
    if (Number.isFinite(declared) && declared > config.maxBodyBytes) throw new Refusal(413, 'body over the size limit');
    let raw: Buffer;
    try {
      raw = await getRawBody(ctx.req, { limit: config.maxBodyBytes });
    } catch (err) {
      // raw-body's errors carry an HTTP status: 413 (type entity.too.large) for a body over the limit.
      if ((err as { status?: number }).status === 413) throw new Refusal(413, 'body over the size limit');
      throw new Refusal(400, 'unreadable body');
    }
    // Strict: a replacement character would silently alter what the citizen wrote.
    if (!isUtf8(raw)) throw new Refusal(400, 'body is not valid UTF-8');
    ctx.state.wx.body = raw.toString('utf8');
    await next();
  }

  async function decrypt(ctx: Ctx, next: Next) {
    const wx = ctx.state.wx;
    const q = wx.query;
    let outer: XmlObject;
    try {
      outer = parseWeChatXml(wx.body);
    } catch (err) {
      throw new Refusal(400, err instanceof XmlError ? err.message : 'malformed XML');
    }
    if (q.encrypt_type === 'aes') {
      if (!crypto || config.encoding === 'plain') throw new Refusal(400, 'encrypted message but the account is in plain mode');
      const encrypt = text(outer, 'Encrypt');
      if (!encrypt) throw new Refusal(400, 'missing Encrypt');
      if (!verifyMessageSignature(config.token, q, encrypt)) throw new Refusal(403, 'invalid msg_signature');
      let inner: string;
      try {
        inner = crypto.decrypt(encrypt);
      } catch (err) {
        if (err instanceof WeChatCryptoError) throw new Refusal(err.reason === 'bad-appid' ? 403 : 400, `cannot decrypt: ${err.reason}`);
        throw err;
      }
      try {
        wx.xml = parseWeChatXml(inner);
      } catch (err) {
        throw new Refusal(400, err instanceof XmlError ? `inner ${err.message}` : 'malformed inner XML');
      }
      wx.encrypted = true;
    } else {
      if (q.encrypt_type && q.encrypt_type !== 'raw') throw new Refusal(400, 'unsupported encrypt_type');
      if (config.encoding === 'safe' || config.requireEncryption) throw new Refusal(400, 'plain messages are not accepted');
      // Not encrypted, so `verify` has already checked the plain signature.
      wx.xml = outer;
      wx.encrypted = false;
    }
    await next();
  }

  async function parse(ctx: Ctx, next: Next) {
    const wx = ctx.state.wx;
    try {
      wx.message = toMessage(wx.xml);
    } catch (err) {
      throw new Refusal(400, err instanceof MessageError ? err.message : 'unreadable message');
    }
    if (wx.message.kind === 'unknown') {
      // Kept in the conversation log like any other message; the conversation does not answer it.
      log.info({ msgType: wx.message.msgType, event: wx.message.event }, 'unknown message type, answered success');
    }
    wx.dedupKey = dedupKey(wx.message, wx.xml);
    await next();
  }

  /**
   * One attempt at a time handles a message, at any instance: a retry arriving while the first is
   * still being handled waits for it (and then gets the stored reply from the handler), or takes
   * the claim over when its holder died.
   */
  async function deduplicate(ctx: Ctx, next: Next) {
    const wx = ctx.state.wx;
    const key = `dedup:${wx.dedupKey}`;
    for (;;) {
      if (await kv.setIfAbsent(key, PENDING, pendingTtl)) {
        // Ours to handle; is it also the first attempt (no earlier one answered, anywhere)?
        if (recent) {
          wx.firstAttempt = clock.now() - startedAt >= dedupTtl && !recent.mayHave(wx.dedupKey);
          recent.add(wx.dedupKey);
        } else wx.firstAttempt = true;
        break;
      }
      const seen = await kv.get(key);
      if (seen === null) continue; // answered meanwhile, or the holder's claim expired: claim it
      if (seen === ANSWERED) break; // the handler gives the stored reply again
      if (seen !== PENDING || Date.now() - wx.arrivedAt >= config.replyTimeoutMs) return answerSuccess(ctx);
      await pause(25);
    }
    await next();
  }

  async function dispatch(ctx: Ctx, next: Next) {
    const wx = ctx.state.wx;
    const key = `dedup:${wx.dedupKey}`;
    const msg = wx.message;
    const work = handler.handle(wx).catch((err) => {
      log.error({ err, kind: msg.kind }, 'message handler failed');
      return handler.errorReply ?? null;
    });
    // The window runs from the request's arrival, not from here: waiting for a claim used part of it.
    const left = Math.max(0, config.replyTimeoutMs - (Date.now() - wx.arrivedAt));
    const outcome = await new Promise<Reply | null | 'timeout'>((resolve) => {
      const timer = setTimeout(() => resolve('timeout'), left);
      void work.then((r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    if (outcome === 'timeout') {
      await kv.set(key, LATE, dedupTtl);
      log.warn({ kind: msg.kind, afterMs: config.replyTimeoutMs }, 'reply not ready in time; answering success and sending it later');
      void work.then(async (reply) => {
        if (reply && !wx.answeredBefore) await handler.late(wx, reply);
      }).catch((err) => log.error({ err }, 'late reply could not be handed over'));
      return answerSuccess(ctx);
    }
    wx.reply = outcome;
    if (outcome) {
      // Stored before the claim is released: a retry that finds no claim finds the reply.
      if (!wx.answeredBefore) wx.reply = (await handler.replied(wx, outcome)) ?? outcome;
      if (remembersAnswers) await kv.set(key, ANSWERED, dedupTtl);
      else await kv.del(key);
    } else {
      await kv.set(key, SILENT, dedupTtl);
    }
    await next();
  }

  function sendReply(ctx: Ctx) {
    const wx = ctx.state.wx;
    if (!wx.reply) return answerSuccess(ctx);
    const createTime = Math.floor(clock.now() / 1000);
    const xml = renderReply(wx.reply, { to: wx.message.fromUser, from: wx.message.toUser, createTime });
    ctx.type = 'application/xml';
    if (wx.encrypted && crypto) {
      const nonce = randomChunk(8).toString('hex');
      ctx.body = crypto.wrapReply(xml, String(createTime), nonce);
    } else {
      ctx.body = xml;
    }
  }

  function answerSuccess(ctx: Ctx) {
    ctx.type = 'text/plain';
    ctx.body = 'success';
  }

  async function reply(ctx: Ctx) {
    sendReply(ctx);
  }

  const get = compose([refuseBadInput, verify, urlCheck] as Middleware[]);
  const post = compose([refuseBadInput, verify, readBody, decrypt, parse, deduplicate, dispatch, reply] as Middleware[]);

  return async (ctx, next) => {
    if (ctx.method === 'GET' || ctx.method === 'HEAD') return get(ctx, next);
    if (ctx.method === 'POST') return post(ctx, next);
    ctx.status = 405;
    ctx.set('Allow', 'GET, POST');
  };
}
