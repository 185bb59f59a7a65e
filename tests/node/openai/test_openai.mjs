// test_openai.mjs — the official `openai` npm client, unchanged, against a running `llamac serve`.
// Run by test_openai_client.py, which starts the servers and passes:
//   TALK_URL  a server on the "talk" chain model (answers "Hello world againHello ..." forever), --api-key API_KEY
//   TOOL_URL  a server on the "tool" chain model (answers with the call [get_weather(city='Paris')]), no key
//   API_KEY   the talk server's key
// Prints PASS/FAIL per check and exits 1 if any failed.
import OpenAI from "openai";

const TALK_URL = process.env.TALK_URL;
const TOOL_URL = process.env.TOOL_URL;
const API_KEY = process.env.API_KEY;
if (!TALK_URL || !TOOL_URL || !API_KEY) {
  console.error("usage: TALK_URL=... TOOL_URL=... API_KEY=... node test_openai.mjs");
  process.exit(2);
}

const talk = new OpenAI({ baseURL: `${TALK_URL}/v1`, apiKey: API_KEY, maxRetries: 0, timeout: 120000 });
const tool = new OpenAI({ baseURL: `${TOOL_URL}/v1`, apiKey: "unused", maxRetries: 0, timeout: 120000 });
const USER = [{ role: "user", content: "Say something." }];
const TOOLS = [{
  type: "function",
  function: {
    name: "get_weather", description: "Current weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
}];

function talkText(n) {
  const pieces = ["Hello", " world", " again"];
  let s = "";
  for (let i = 0; i < n; i++) s += pieces[i % 3];
  return s;
}

class Failure extends Error {}
function check(cond, msg) {
  if (!cond) throw new Failure(msg);
}
const show = (x) => JSON.stringify(x).slice(0, 1500);

async function metrics(url) {
  const r = await fetch(`${url}/metrics`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  check(r.status === 200, `/metrics answered ${r.status}`);
  const out = new Map();
  for (const line of (await r.text()).split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    out.set(m[1] + (m[2] || ""), Number(m[3]));
  }
  return out;
}
function metricSum(m, name) {
  let s = 0;
  for (const [k, v] of m) if (k === name || k.startsWith(name + "{")) s += v;
  return s;
}
// polls until pred(metrics) holds (bounded); never sleep-then-assert
async function waitMetrics(url, pred, what, limitMs = 60000) {
  const deadline = Date.now() + limitMs;
  let last;
  for (;;) {
    last = await metrics(url);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Failure(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const tests = {
  async chat_non_streaming() {
    const r = await talk.chat.completions.create({ model: "any", messages: USER, max_tokens: 7, temperature: 0 });
    check(r.object === "chat.completion" && typeof r.id === "string", `object/id: ${show(r)}`);
    const c = r.choices[0];
    check(c.message.role === "assistant" && c.message.content === talkText(7), `message: ${show(c)}`);
    check(c.finish_reason === "length", `max_tokens -> finish_reason ${c.finish_reason}, want length`);
    check(r.usage.completion_tokens === 7 && r.usage.total_tokens === r.usage.prompt_tokens + 7,
      `usage: ${show(r.usage)}`);
  },

  async chat_streaming_with_usage() {
    const stream = await talk.chat.completions.create({
      model: "any", messages: USER, max_tokens: 6, stream: true, stream_options: { include_usage: true },
    });
    let text = "", finish = null, usage = null, role = null;
    const ids = new Set();
    for await (const chunk of stream) {
      ids.add(chunk.id);
      if (chunk.usage) usage = chunk.usage;
      for (const ch of chunk.choices) {
        if (ch.delta.role && role === null) role = ch.delta.role;
        text += ch.delta.content || "";
        if (ch.finish_reason) finish = ch.finish_reason;
      }
    }
    check(ids.size === 1, `chunk ids: ${[...ids]}`);
    check(role === "assistant", `role in the first delta: ${role}`);
    check(text === talkText(6) && finish === "length", `streamed ${JSON.stringify(text)} finish ${finish}`);
    check(usage && usage.completion_tokens === 6, `usage chunk: ${show(usage)}`);
    // the client's own accumulator (stricter about the chunk format) gives the same completion
    const runner = talk.chat.completions.stream({ model: "any", messages: USER, max_tokens: 6 });
    const final = await runner.finalChatCompletion();
    check(final.choices[0].message.content === talkText(6), `stream helper: ${show(final)}`);
  },

  async stop() {
    const r = await talk.chat.completions.create({ model: "any", messages: USER, max_tokens: 50, stop: [" again"] });
    check(r.choices[0].message.content === "Hello world" && r.choices[0].finish_reason === "stop",
      `stop: ${show(r.choices)}`);
  },

  async n_choices() {
    const r = await talk.chat.completions.create({ model: "any", messages: USER, max_tokens: 3, n: 2 });
    const idx = r.choices.map((c) => c.index).sort();
    check(idx.length === 2 && idx[0] === 0 && idx[1] === 1, `n=2 indexes: ${idx}`);
    for (const c of r.choices) check(c.message.content === talkText(3), `choice: ${show(c)}`);
  },

  async logprobs() {
    const r = await talk.chat.completions.create({
      model: "any", messages: USER, max_tokens: 4, logprobs: true, top_logprobs: 2,
    });
    const lp = r.choices[0].logprobs && r.choices[0].logprobs.content;
    check(Array.isArray(lp) && lp.length === 4, `logprobs.content: ${show(r.choices[0])}`);
    check(lp.map((t) => t.token).join("") === talkText(4), `tokens: ${show(lp)}`);
    for (const t of lp) {
      check(t.logprob <= 0 && t.top_logprobs.length === 2 && t.top_logprobs[0].token === t.token,
        `entry: ${show(t)}`);
    }
  },

  async models_list() {
    const ids = [];
    for await (const m of talk.models.list()) ids.push(m.id);
    check(ids.length === 1 && typeof ids[0] === "string" && ids[0].length > 0, `models: ${show(ids)}`);
    const m = await talk.models.retrieve(ids[0]).catch((e) => e);
    // retrieve is optional in the spec: either the model or a typed 404
    check(!(m instanceof Error) ? m.id === ids[0] : m instanceof OpenAI.NotFoundError, `retrieve: ${m}`);
  },

  async legacy_completions() {
    const r = await talk.completions.create({ model: "any", prompt: "Hello", max_tokens: 3 });
    check(r.object === "text_completion" && r.choices[0].text === " world againHello" &&
      r.choices[0].finish_reason === "length", `completions: ${show(r)}`);
    const stream = await talk.completions.create({ model: "any", prompt: [128000, 9906], max_tokens: 3, stream: true });
    let text = "";
    for await (const chunk of stream) for (const ch of chunk.choices) text += ch.text || "";
    check(text === " world againHello", `streamed completion from token ids: ${JSON.stringify(text)}`);
  },

  async tool_call_and_follow_up() {
    const messages = [{ role: "user", content: "Weather in Paris?" }];
    const r = await tool.chat.completions.create({ model: "any", messages, tools: TOOLS, max_tokens: 40 });
    const c = r.choices[0];
    check(c.finish_reason === "tool_calls", `finish_reason: ${show(c)}`);
    const calls = c.message.tool_calls;
    check(Array.isArray(calls) && calls.length === 1 && calls[0].type === "function", `tool_calls: ${show(c)}`);
    check(calls[0].function.name === "get_weather", `name: ${show(calls[0])}`);
    check(JSON.parse(calls[0].function.arguments).city === "Paris", `arguments: ${show(calls[0])}`);
    messages.push(c.message);
    messages.push({ role: "tool", tool_call_id: calls[0].id, content: JSON.stringify({ temperature: 21 }) });
    const r2 = await tool.chat.completions.create({ model: "any", messages, tools: TOOLS, max_tokens: 40 });
    check(r2.usage.prompt_tokens > r.usage.prompt_tokens, `follow-up prompt: ${show(r2.usage)} vs ${show(r.usage)}`);
    check(["tool_calls", "stop"].includes(r2.choices[0].finish_reason), `follow-up: ${show(r2.choices)}`);
  },

  async tool_call_streamed() {
    const runner = tool.chat.completions.stream({
      model: "any", messages: [{ role: "user", content: "Weather?" }], tools: TOOLS, max_tokens: 40,
    });
    const final = await runner.finalChatCompletion();
    const c = final.choices[0];
    check(c.finish_reason === "tool_calls", `streamed finish_reason: ${show(c)}`);
    const calls = c.message.tool_calls;
    check(calls && calls.length === 1 && calls[0].function.name === "get_weather" &&
      JSON.parse(calls[0].function.arguments).city === "Paris", `streamed tool call: ${show(c.message)}`);
  },

  async aborted_stream_frees_the_sequence() {
    const before = await waitMetrics(TALK_URL, (m) => metricSum(m, "llamac_busy_sequences") === 0, "idle");
    const c0 = metricSum(before, "llamac_cancellations_total");
    const controller = new AbortController();
    // no max_tokens: the talk model never stops, so only the abort ends this stream
    const stream = await talk.chat.completions.create(
      { model: "any", messages: USER, stream: true }, { signal: controller.signal });
    let n = 0, finish = null;
    try {
      for await (const chunk of stream) {
        if (chunk.choices.length && chunk.choices[0].delta.content) n++;
        if (chunk.choices.length && chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
        if (n === 3) controller.abort();  // the client ends the iteration quietly (or throws an abort error)
      }
    } catch (e) {
      if (!(e instanceof OpenAI.APIUserAbortError || e.name === "AbortError")) throw e;
    }
    check(controller.signal.aborted && n >= 3 && finish === null,
      `the stream was not cut by the abort: ${n} chunks, finish_reason ${finish}`);
    await waitMetrics(TALK_URL, (m) => metricSum(m, "llamac_cancellations_total") >= c0 + 1 &&
      metricSum(m, "llamac_busy_sequences") === 0, "a cancellation counted and no busy sequence");
  },

  async typed_401() {
    const bad = new OpenAI({ baseURL: `${TALK_URL}/v1`, apiKey: "wrong-key", maxRetries: 0 });
    const e = await bad.chat.completions.create({ model: "any", messages: USER, max_tokens: 1 }).then(
      () => null, (err) => err);
    check(e instanceof OpenAI.AuthenticationError && e.status === 401, `want AuthenticationError, got ${e}`);
    check(typeof e.error === "object" && typeof e.message === "string", `error body: ${show(e.error)}`);
  },

  async typed_400() {
    let e = await talk.chat.completions.create({ model: "any", messages: [{ role: "wizard", content: "x" }] })
      .then(() => null, (err) => err);
    check(e instanceof OpenAI.BadRequestError && e.status === 400, `bad role: want BadRequestError, got ${e}`);
    check(/role/.test(e.message) || /role/.test(String(e.param)), `the error does not name the field: ${e.message}`);
    e = await talk.chat.completions.create({ model: "any", messages: USER, max_tokens: 100000 })
      .then(() => null, (err) => err);
    check(e instanceof OpenAI.BadRequestError && e.code === "context_length_exceeded",
      `overflow: want BadRequestError context_length_exceeded, got ${e} code ${e && e.code}`);
  },
};

let failed = 0;
const only = process.argv.slice(2);
for (const [name, fn] of Object.entries(tests)) {
  if (only.length && !only.includes(name)) continue;
  const t0 = Date.now();
  try {
    await fn();
    console.log(`PASS ${name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e instanceof Failure ? e.message : (e && e.stack) || e}`);
  }
}
console.log(failed ? `${failed} failed` : "all passed");
process.exit(failed ? 1 : 0);
