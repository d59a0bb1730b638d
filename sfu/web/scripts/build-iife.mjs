// Builds dist/turnpike.js, the script Turnpike serves at /sdk/turnpike.js, from tsc's ES modules in
// dist/esm/: the modules in dependency order inside one function scope, their relative imports
// and `export` keywords dropped, and every exported name on the global `Turnpike`. No bundler: the
// sources keep to what this needs (relative imports only, named exports on declarations).
//   node scripts/build-iife.mjs [ESM_DIR] [OUT_FILE]
import {readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

const ORDER = ['protocol', 'ice', 'signal', 'media', 'room', 'index'];
const esm = process.argv[2] || 'dist/esm';
const outFile = process.argv[3] || 'dist/turnpike.js';
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

const names = [];
const parts = ORDER.map((name) => {
  let text = readFileSync(join(esm, name + '.js'), 'utf8');
  text = text.replace(/^import\s[^;]*?\sfrom\s+'\.\/[\w-]+\.js';\n/gms, '');
  text = text.replace(/^export\s*\{[^}]*\}\s*from\s+'\.\/[\w-]+\.js';\n/gms, '');
  text = text.replace(/^export (async function|function|class|const|let) (\w+)/gm, (_, kind, id) => {
    names.push(id);
    return `${kind} ${id}`;
  });
  const left = /^\s*(import|export)\b.*$/m.exec(text);
  if (left) throw new Error(`${name}.js: cannot inline "${left[0]}"`);
  return `  // ---- ${name}.ts\n` + text.replace(/\/\/# sourceMappingURL=.*\n?/g, '').trimEnd()
    .split('\n').map((l) => (l ? '  ' + l : l)).join('\n');
});
const out = `// turnpike.js ${pkg.version}: the Turnpike SFU SDK (sfu/web/src/*.ts, built by npm run build) as one
// script for a <script> tag: defines the global \`Turnpike\`. Generated: do not edit.
(function (global) {
  'use strict';
${parts.join('\n')}
  global.Turnpike = {${names.sort().join(', ')}};
})(typeof window !== 'undefined' ? window : globalThis);
`;
writeFileSync(outFile, out);
