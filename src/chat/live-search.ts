import type { SearchEngine } from './engine.ts';
import type { SearchHit } from './search.ts';

/**
 * A search index that can be rebuilt while the account runs: when staff change an FAQ answer or a
 * guide's text in the panel, the next search reads the new words.
 */
export class LiveSearch implements SearchEngine {
  private index: SearchEngine;

  constructor(private readonly build: () => SearchEngine) {
    this.index = build();
  }

  rebuild(): void {
    this.index = this.build();
  }

  search(query: string, opts: { now: number; audience?: string | null; limit?: number }): SearchHit[] {
    return this.index.search(query, opts);
  }

  /** The index's evidence gate, when it has one (else the engine shows the list). */
  verdict(hits: SearchHit[]): 'answer' | 'list' | 'none' {
    return this.index.verdict ? this.index.verdict(hits) : 'list';
  }
}
