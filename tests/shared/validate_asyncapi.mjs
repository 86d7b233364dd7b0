// Validates an AsyncAPI document with the official parser; exits non-zero on any error.
import { Parser, fromFile } from '@asyncapi/parser';
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, process.argv[2]).parse();
const errors = diagnostics.filter(d => d.severity === 0);
for (const d of diagnostics.filter(d => d.severity <= 1)) console.log(d.severity === 0 ? 'error' : 'warning', d.code, d.message, JSON.stringify(d.path));
if (!document || errors.length) { console.log(`invalid: ${errors.length} errors`); process.exit(1); }
console.log(`valid AsyncAPI ${document.version()}: ${document.channels().length} channels, ${document.operations().length} operations, ${document.messages().length} messages`);
