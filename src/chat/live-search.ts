import type { SearchEngine } from './engine.ts';
import type { SearchHit } from './search.ts';

/**
 * A search index that can be rebuilt while the account runs: when staff change an FAQ answer or a
 * guide's text in the panel, the next search reads the new words.
 *
 * The index is built when a search first needs it after a change, not at each change: the start
 * lays the panel's edits over the profile and says the catalogue changed, and building at both
 * (about 20 ms each for the demo's catalogue) doubled the index's cost of every start.
 */
export class LiveSearch implements SearchEngine {
  private index: SearchEngine | null = null;

  constructor(private readonly build: () => SearchEngine) {}

  /** The catalogue changed: the next search reads it afresh. */
  rebuild(): void {
    this.index = null;
  }

  private current(): SearchEngine {
    return (this.index ??= this.build());
  }

  search(query: string, opts: { now: number; audience?: string | null; limit?: number }): SearchHit[] {
    return this.current().search(query, opts);
  }

  /** The index's evidence gate, when it has one (else the engine shows the list). */
  verdict(hits: SearchHit[]): 'answer' | 'list' | 'none' {
    const index = this.current();
    return index.verdict ? index.verdict(hits) : 'list';
  }
}
