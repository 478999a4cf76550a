// The JSON.parse oracle for src/core/untrusted/result_json/tests.rs.
// Input (argv[2]): one case per line, each the JSON encoding of the span text
// as a string, so every code unit arrives exactly. Output: one JSON line per
// case, in order: what the host's `JSON.parse(text.trim()).reply` gives.
'use strict';
const fs = require('fs');
const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n');
const out = [];
for (const line of lines) {
  if (line === '') continue;
  const span = JSON.parse(line);
  let result;
  try {
    const parsed = JSON.parse(span.trim());
    const reply =
      parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed.reply : undefined;
    if (typeof reply === 'string') {
      const units = new Array(reply.length);
      for (let i = 0; i < reply.length; i++) units[i] = reply.charCodeAt(i);
      result = { ok: true, type: 'string', units };
    } else {
      result = { ok: true, type: reply === null ? 'null' : typeof reply };
    }
  } catch (e) {
    if (!(e instanceof SyntaxError)) throw e;
    result = { ok: false };
  }
  out.push(JSON.stringify(result));
}
process.stdout.write(out.join('\n') + '\n');
