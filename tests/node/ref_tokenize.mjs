// ref_tokenize.mjs — the reference tokenizer for llamac's tests and bench: @lenml/tokenizers (a JS port of
// Hugging Face tokenizers) running the Llama 3 tokenizer.json.
//
//   node ref_tokenize.mjs encode TOKENIZER.json CONFIG.json   < strings.jsonl  > ids.jsonl
//       each input line is a JSON string; prints its ids (special-token text is parsed, as HF does; no BOS)
//   node ref_tokenize.mjs classes                             > classes.txt
//       one character per code point 0..0x10FFFF: L (\p{L}), N (\p{N}), S (JS \s), O; surrogates are "-"
//   node ref_tokenize.mjs bench TOKENIZER.json CONFIG.json FILE SECONDS
//       encodes FILE's text (in ~4 KB chunks) repeatedly for about SECONDS of CPU time and prints
//       {"bytes":.., "cpu_seconds":.., "mb_per_s": bytes per CPU second / 1e6, "mb_per_s_wall":..}
// NODE_PATH (or a node_modules beside the working directory) must hold @lenml/tokenizers.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

const require = createRequire(process.cwd() + "/");
const [mode, tokPath, cfgPath, file, seconds] = process.argv.slice(2);

function load() {
  const { TokenizerLoader } = require("@lenml/tokenizers");
  return TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(readFileSync(tokPath, "utf8")),
    tokenizerConfig: JSON.parse(readFileSync(cfgPath, "utf8")),
  });
}

if (mode === "classes") {
  const L = /^\p{L}$/u, N = /^\p{N}$/u, S = /^\s$/u;
  const out = new Array(0x110000);
  for (let cp = 0; cp < 0x110000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) { out[cp] = "-"; continue; }
    const c = String.fromCodePoint(cp);
    out[cp] = L.test(c) ? "L" : N.test(c) ? "N" : S.test(c) ? "S" : "O";
  }
  process.stdout.write(out.join("") + "\n");
} else if (mode === "encode") {
  const tok = load();
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  const lines = [];
  for await (const line of rl) {
    if (line.length === 0) continue;
    const ids = tok.encode(JSON.parse(line), { add_special_tokens: false });
    lines.push(JSON.stringify(Array.from(ids)));
    if (lines.length >= 256) { process.stdout.write(lines.join("\n") + "\n"); lines.length = 0; }
  }
  if (lines.length) process.stdout.write(lines.join("\n") + "\n");
} else if (mode === "bench") {
  const tok = load();
  const text = readFileSync(file, "utf8");
  const bytes = Buffer.byteLength(text, "utf8");
  tok.encode(text.slice(0, 10000), { add_special_tokens: false }); // warm up
  // Split into ~4 KB lines, as a server sees prompts, so the BPE cache sees realistic reuse.
  const chunks = text.match(/[^]{1,4096}/g) || [];
  let total = 0, n = 0;
  const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  let dt = 0, cpu = 0;
  do {
    for (const c of chunks) tok.encode(c, { add_special_tokens: false });
    total += bytes; n++;
    dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const cu = process.cpuUsage(c0);
    cpu = (cu.user + cu.system) / 1e6;
  } while (cpu < Number(seconds || 3));
  // mb_per_s is per CPU second (node's own threads included), like llamac's bench; wall figures beside it.
  console.log(JSON.stringify({ bytes: total, seconds: dt, cpu_seconds: cpu, rounds: n, mb_per_s: total / cpu / 1e6,
                               mb_per_s_wall: total / dt / 1e6 }));
} else {
  console.error("usage: node ref_tokenize.mjs (encode TOK CFG | classes | bench TOK CFG FILE SECONDS)");
  process.exit(2);
}
