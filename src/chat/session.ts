import type { Kv } from '../platform/kv/index.ts';
import type { DialogName } from '../profile/conversation.ts';

/** Where a citizen is in the conversation. Short-lived: forgotten after the idle timeout. */
export interface Session {
  /** The audience (人群) chosen; also kept on the citizen's record, so it outlives the session. */
  audience: string | null;
  /** The numbered list the citizen is looking at: what "1" means now. */
  list: SessionList | null;
  /** A service dialog in progress. */
  dialog: {
    name: DialogName;
    step: string;
    data: Record<string, unknown>;
    /** The labels of the numbered list the dialog last showed: a citizen may answer with the words. */
    labels?: string[];
  } | null;
  /** An open staff conversation (handoff id): the bot does not talk over the human. */
  human: number | null;
  /** When the citizen was last told their messages reach staff (acknowledgements are spaced out). */
  humanAck?: number | null;
  /** Where the citizen last said they are (a sent location): halls are offered nearest first. */
  here?: { latitude: number; longitude: number } | null;
  /** The handoff's question as asked for (a menu entry's name, 转人工): the citizen's next words replace it. */
  humanAsked?: string | null;
}

export type SessionList =
  /** `leaf`: the citizen reads an answer chosen from this list (0 shows the list again). */
  | { kind: 'nav'; path: string[]; leaf?: boolean }
  | { kind: 'hits'; refs: string[] }
  | { kind: 'audiences' }
  /** Follow-ups offered under an answer: `book:<service id>` … */
  | { kind: 'actions'; actions: string[]; back: SessionList | null };

/** Durable facts a new session starts from. */
export interface SessionSeed {
  audience: string | null;
  human: number | null;
}

/**
 * Sessions live in the shared kv store with an idle timeout; a citizen without one starts at the
 * home list. What must outlive a session (the audience, an open staff conversation) is loaded from
 * the database when a session starts. Reading a session restarts its idle timeout; it is written
 * back only when it changed (most messages — a keyword answer, a question for staff — change
 * nothing), so an unchanged one costs one round trip to the store, not two.
 */
export class Sessions {
  /** What each loaded session looked like in the store. */
  private readonly stored = new WeakMap<Session, string>();

  constructor(
    private readonly kv: Kv,
    private readonly idleMs: number,
    private readonly seed: (openid: string) => Promise<SessionSeed>,
  ) {}

  private key(openid: string): string {
    return `chat:session:${openid}`;
  }

  async load(openid: string): Promise<Session> {
    const raw = await this.kv.getAndTouch(this.key(openid), this.idleMs);
    if (raw) {
      const s = JSON.parse(raw) as Session;
      this.stored.set(s, raw);
      return s;
    }
    const s = await this.seed(openid);
    return { audience: s.audience, list: null, dialog: null, human: s.human };
  }

  async save(openid: string, s: Session): Promise<void> {
    const raw = JSON.stringify(s);
    // Unchanged since it was read: reading it restarted its idle timeout already.
    if (this.stored.get(s) === raw) return;
    await this.kv.set(this.key(openid), raw, this.idleMs);
    this.stored.set(s, raw);
  }

  async forget(openid: string): Promise<void> {
    await this.kv.del(this.key(openid));
  }
}
