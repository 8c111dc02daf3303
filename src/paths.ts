import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root (where package.json is), whether running from src/ or from dist/src/. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    dir = dirname(dir);
  }
  throw new Error('cannot find the project root (package.json)');
}

export const PROJECT_ROOT = findRoot();
/** Static files shipped with the source (pages' assets), read from src/ in every mode. */
export const SOURCE_DIR = join(PROJECT_ROOT, 'src');
