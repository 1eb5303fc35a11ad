// What the two JSON CLIs around Sinch's Node SDK (fax_client.js, conversation_client.js) share: the output
// contract, the timeouts, reading the input, and running one operation or a session of steps on one client.
// Require it before the SDK: from then on, nothing but the result reaches stdout.
'use strict';

for (const name of ['log', 'info', 'warn', 'debug']) {
  console[name] = (...args) => console.error(...args);
}

const DEFAULT_TIMEOUT_MS = 10000;

class TimeoutError extends Error {}

function emit(outcome, exitCode) {
  process.stdout.write(JSON.stringify(outcome) + '\n', () => process.exit(exitCode));
}

function failure(error, extra = {}) {
  const status = error && Number.isInteger(error.statusCode) ? error.statusCode : null;
  const message = error && error.message ? error.message.replace(/\s+/g, ' ').trim() : String(error);
  const body = error && error.data !== undefined ? error.data : null;
  return { ok: false, error: message, status, body, ...extra };
}

function withTimeout(promise, ms, label) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`${label}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function readStdin() {
  return new Promise((resolve, reject) => {
    const chunks = [];
    process.stdin.on('data', (chunk) => chunks.push(chunk));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

// Reads the JSON input (the first argument, else stdin), builds the client with makeClient(input) and runs
// runOp(client, args, timeoutMs, results) for input.op; for input.op === sessionOp, runs each of input.steps in
// order on that one client (one OAuth2 token), `results` holding the earlier steps' results. annotate(result)
// adds fields to a successful outcome. Emits exactly one JSON line, exit code 0 (ok), 1 (failed) or 2 (bad input).
async function run({ sessionOp, makeClient, runOp, annotate = () => ({}) }) {
  const text = process.argv[2] !== undefined ? process.argv[2] : await readStdin();
  let input;
  try {
    input = JSON.parse(text);
  } catch (error) {
    emit(failure(new Error(`the input is not JSON: ${error.message}`)), 2);
    return;
  }
  const timeoutMs = input.timeoutMs || DEFAULT_TIMEOUT_MS;
  const client = makeClient(input);
  if (input.op !== sessionOp) {
    try {
      const result = await runOp(client, input, timeoutMs, []);
      emit({ ok: true, result, ...annotate(result) }, 0);
    } catch (error) {
      emit(failure(error), 1);
    }
    return;
  }
  if (!Array.isArray(input.steps) || !input.steps.length) {
    emit(failure(new Error(`${sessionOp} needs "steps": a list of operations`)), 2);
    return;
  }
  const results = [];
  for (const [index, step] of input.steps.entries()) {
    try {
      results.push(await runOp(client, step, step.timeoutMs || timeoutMs, results));
    } catch (error) {
      const outcome = failure(error, { step: index, results });
      outcome.error = `step ${index} (${step.op}): ${outcome.error}`;
      emit(outcome, 1);
      return;
    }
  }
  const result = { steps: results };
  emit({ ok: true, result, ...annotate(result) }, 0);
}

function main(options) {
  run(options).catch((error) => emit(failure(error), 1));
}

module.exports = { main, withTimeout };
