// A small Claude Agent SDK program, as a user of agentd would run in a sandbox: one
// prompt from argv, run by the Claude Code CLI that CLAUDE_CODE_PATH names, in the
// current directory, with no permission prompts. The result's text is printed on stdout
// (agentd's command runtime streams it as the reply), every message the SDK yields as one
// JSON line on stderr; the exit status is 0 when the run's result is a success, 1
// otherwise (a usage error included).
//
//   CLAUDE_CODE_PATH=.../claude-code-linux-x64/claude node sdk_app.mjs "say hi"
//
// The CLI reads the rest from the environment this program inherits: ANTHROPIC_BASE_URL,
// ANTHROPIC_API_KEY, HOME (writable: it keeps its state in ~/.claude), PATH (its Bash tool
// runs bash from there), IS_SANDBOX=1 when run as uid 0 (else it refuses to skip
// permissions), and optionally ANTHROPIC_MODEL and CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1.
// Node.js 18.14 or newer.
import { query } from '@anthropic-ai/claude-agent-sdk';

const prompt = process.argv.slice(2).join(' ');
const cli = process.env.CLAUDE_CODE_PATH;
if (!prompt || !cli) {
  // without a path the SDK would run the CLI it bundles, a version of its own
  console.error('usage: CLAUDE_CODE_PATH=/path/to/claude node sdk_app.mjs PROMPT...');
  process.exit(1);
}

let ok = false;
try {
  for await (const message of query({
    prompt,
    options: {
      cwd: process.cwd(),
      pathToClaudeCodeExecutable: cli,
      permissionMode: 'bypassPermissions',
      allowDangerouslySkipPermissions: true,
      stderr: (data) => process.stderr.write(data),
    },
  })) {
    process.stderr.write(JSON.stringify(message) + '\n');
    if (message.type === 'result') {
      if (typeof message.result === 'string') process.stdout.write(message.result);
      // an API error ends the turn with subtype 'success' and is_error true
      ok = message.subtype === 'success' && !message.is_error;
    }
  }
} catch (err) {
  console.error(`sdk_app: ${err && err.stack ? err.stack : err}`);
  ok = false;
}
process.exit(ok ? 0 : 1);
