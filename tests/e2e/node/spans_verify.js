// Checks which of the sent span ids arrived in otelbpf OTLP/JSON-lines export files, by count and by set.
//   node spans_verify.js <all|subset> <expected-count> <sent-ids.json>... -- <exported.jsonl>...
// all:    every sent id arrived exactly once, and nothing else arrived (expected-count = number of sent ids).
// subset: exactly expected-count spans arrived, each a sent id, none twice (for runs that dropped some).
// Prints a summary line; exits 1 with the first missing / duplicated / unknown ids on failure.
const fs = require('fs');

const args = process.argv.slice(2);
const mode = args.shift();
const expectedCount = Number(args.shift());
const sep = args.indexOf('--');
if (!['all', 'subset'].includes(mode) || !(expectedCount >= 0) || sep < 1 || sep === args.length - 1) {
  console.error('usage: node spans_verify.js <all|subset> <expected-count> <sent-ids.json>... -- <exported.jsonl>...');
  process.exit(2);
}
const sent = new Set();
for (const path of args.slice(0, sep)) for (const id of JSON.parse(fs.readFileSync(path, 'utf8'))) sent.add(id);

const seen = new Map();
let lines = 0;
const files = args.slice(sep + 1);
for (const path of files) {
  if (!fs.existsSync(path)) continue;  // an agent that never got anything writes no file
  for (const line of fs.readFileSync(path, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    lines++;
    const request = JSON.parse(line);
    for (const rs of request.resourceSpans || [])
      for (const ss of rs.scopeSpans || [])
        for (const span of ss.spans || []) {
          const id = (span.spanId || '').toLowerCase();
          seen.set(id, (seen.get(id) || 0) + 1);
        }
  }
}
const arrived = [...seen.values()].reduce((a, b) => a + b, 0);
const duplicated = [...seen].filter(([, n]) => n > 1).map(([id, n]) => `${id}x${n}`);
const unknown = [...seen.keys()].filter((id) => !sent.has(id));
const missing = [...sent].filter((id) => !seen.has(id));
const problems = [];
if (duplicated.length) problems.push(`${duplicated.length} span ids arrived more than once (${duplicated.slice(0, 5).join(' ')})`);
if (unknown.length) problems.push(`${unknown.length} span ids arrived that were never sent (${unknown.slice(0, 5).join(' ')})`);
if (mode === 'all' && missing.length) problems.push(`${missing.length} of ${sent.size} sent span ids never arrived (${missing.slice(0, 5).join(' ')})`);
if (mode === 'all' && expectedCount !== sent.size) problems.push(`expected-count ${expectedCount} != ${sent.size} sent ids`);
if (arrived !== expectedCount) problems.push(`${arrived} spans arrived, expected ${expectedCount}`);
const summary = `${files.join(' ')}: ${arrived} spans in ${lines} requests, ${seen.size} distinct, ${sent.size - missing.length}/${sent.size} sent ids present`;
if (problems.length) {
  console.error(`${summary}\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(summary);
