// Module resolution hooks registered by use-dist.mjs (they run in Node's hooks thread).
const COMPILED_SRC = '/.bench-build/src/';

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const at = resolved.url.lastIndexOf(COMPILED_SRC);
  if (at < 0) return resolved;
  return { ...resolved, url: `${resolved.url.slice(0, at)}/dist/${resolved.url.slice(at + COMPILED_SRC.length)}` };
}
