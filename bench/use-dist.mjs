// `node --import ./bench/use-dist.mjs .bench-build/bench/<tool>.js`: runs a compiled dev tool against the
// real build in dist/. bench/tsconfig.json compiles src/ beside the tools (tsc needs it to type-check
// them), but src/ modules find mappings/, samples/, connectors/ and their assets two folders above
// themselves, which only holds in dist/. The hooks below answer imports of .bench-build/src/* from dist/,
// which is also the code a benchmark should measure: the build that ships.
import { register } from 'node:module';

register('./use-dist-hooks.mjs', import.meta.url);
