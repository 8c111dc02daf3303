import type { NavNode } from '../profile/conversation.ts';
import { isValidAt } from '../profile/validity.ts';

export interface Visibility {
  now: number;
  audience: string | null;
}

/** Whether a node (or rule, or item) is shown to this citizen now. */
export function visible(n: { audience: string[]; valid_from?: string | undefined; valid_until?: string | undefined }, v: Visibility): boolean {
  if (!isValidAt(n, v.now)) return false;
  return n.audience.length === 0 || v.audience === null || n.audience.includes(v.audience);
}

/**
 * The numbered navigation tree, with what each citizen may see at this moment. The tree is read
 * as it is now: content staff publish notices into its lists and take them down while it runs.
 */
export class Navigation {
  private byId = new Map<string, { node: NavNode; path: string[] }>();
  /** The tree's shape when byId was built: every list of choices and the nodes it held then. */
  private shape: { list: NavNode[]; nodes: NavNode[] }[] = [];

  constructor(private readonly roots: NavNode[]) {
    this.index();
  }

  private index(): void {
    this.byId = new Map();
    this.shape = [];
    const walk = (nodes: NavNode[], path: string[]) => {
      this.shape.push({ list: nodes, nodes: [...nodes] });
      for (const n of nodes) {
        this.byId.set(n.id, { node: n, path: [...path, n.id] });
        if (n.children) walk(n.children, [...path, n.id]);
      }
    };
    walk(this.roots, []);
  }

  find(id: string): { node: NavNode; path: string[] } | undefined {
    if (this.shape.some((s) => s.list.length !== s.nodes.length || s.list.some((n, i) => n !== s.nodes[i]))) this.index();
    return this.byId.get(id);
  }

  /** The choices at a path ([] is home), or null when the path no longer leads anywhere visible. */
  choices(path: string[], v: Visibility): NavNode[] | null {
    let nodes = this.roots;
    for (const id of path) {
      const next = nodes.find((n) => n.id === id);
      if (!next || !visible(next, v) || !next.children) return null;
      nodes = next.children;
    }
    return nodes.filter((n) => visible(n, v));
  }

  /** Every node, for counting and validity boundaries. */
  all(): NavNode[] {
    this.find('');
    return [...this.byId.values()].map((x) => x.node);
  }
}
