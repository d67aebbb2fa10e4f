/**
 * Reading a cloakpipe end's /metrics in tests: one fetch, one reader of the Prometheus text
 * format, so every test that checks a counter reads it the same way.
 */

/** The /metrics text served on 127.0.0.1:`port`. */
export async function fetchMetrics(port: number): Promise<string> {
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

/**
 * The value of the first sample in `text` whose line starts with `prefix` (a series name with
 * `{`, or a name and its first labels) and contains every `k="v"` of `labels`; undefined if none.
 */
export function sampleValue(
  text: string,
  prefix: string,
  labels: readonly string[] = [],
): number | undefined {
  const line = text
    .split('\n')
    .find((l) => l.startsWith(prefix) && labels.every((kv) => l.includes(kv)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Every sample in `text`, as series (name and labels) → value. */
export function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n'))
    if (line !== '' && !line.startsWith('#')) {
      const i = line.lastIndexOf(' ');
      m.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  return m;
}
