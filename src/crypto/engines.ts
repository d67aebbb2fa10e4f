/** Engine lookup by name, for the `--crypto` flag. */
import type { CryptoEngine, EngineName } from './engine.js';
import { nodeEngine } from './engine-node.js';
import { nobleEngine } from './engine-noble.js';

/** The engine called `name`. */
export function getEngine(name: EngineName): CryptoEngine {
  return name === 'noble' ? nobleEngine : nodeEngine;
}
