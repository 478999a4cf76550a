// The String.prototype.replace oracle for src/core/turn/payload.rs: the host computes the
// container's workspace as `spaceWorkspace.replace(spacesDir, "/spaces")`.
// Input (argv[2]): one case per line, the JSON array [workspace, spacesDir].
// Output: one JSON string per case, in order: what that replace gives.
'use strict';
const fs = require('fs');
const out = [];
for (const line of fs.readFileSync(process.argv[2], 'utf8').split('\n')) {
  if (line === '') continue;
  const [workspace, spacesDir] = JSON.parse(line);
  out.push(JSON.stringify(workspace.replace(spacesDir, '/spaces')));
}
process.stdout.write(out.join('\n') + '\n');
