// app.js — the llamac chat page: conversations kept in localStorage, answers streamed from the server's own
// /v1/chat/completions (server-sent events), markdown rendered into DOM nodes.
//
// Safety rule: text from the model or the user only ever reaches the page through textContent / text nodes /
// attribute values checked here (link URLs must be http(s)); nothing here assigns innerHTML. The server adds a
// Content-Security-Policy that forbids inline scripts as a second fence.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const STORE_KEY = 'llamac.chat.v1';
  const SETTINGS_KEY = 'llamac.settings.v1';
  const API_KEY_KEY = 'llamac.apiKey';
  // max_tokens '': not sent, the server's limit (the rest of the context)
  const DEFAULTS = { system: '', temperature: 0.6, top_p: 0.9, max_tokens: '', tools: '' };
  const UNTITLED = 'New chat';

  // ---------------------------------------------------------------------------------------------- storage
  function loadJSON(key) {
    try {
      return JSON.parse(localStorage.getItem(key));
    } catch (e) {
      return null;
    }
  }
  function saveJSON(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      showError({ kind: 'storage', message: 'This browser refused to save the conversation (' + e.message +
                  '). Delete old conversations to free space.' });
    }
  }
  const str = (v) => (typeof v === 'string' ? v : '');

  // Whatever localStorage holds is re-checked: an old or hand-edited entry must not break the page.
  function cleanState(raw) {
    const out = { conversations: [], current: null };
    if (!raw || !Array.isArray(raw.conversations)) return out;
    for (const c of raw.conversations) {
      if (!c || typeof c.id !== 'string' || !Array.isArray(c.messages)) continue;
      const messages = [];
      for (const m of c.messages) {
        if (!m || (m.role !== 'user' && m.role !== 'assistant')) continue;
        messages.push({
          role: m.role, content: str(m.content),
          tool_calls: Array.isArray(m.tool_calls) ? m.tool_calls : null,
          stats: m.stats && typeof m.stats === 'object' ? m.stats : null, note: str(m.note),
        });
      }
      out.conversations.push({ id: c.id, title: str(c.title) || UNTITLED, updated: Number(c.updated) || 0,
                               messages });
    }
    if (out.conversations.some((c) => c.id === raw.current)) out.current = raw.current;
    return out;
  }

  const state = cleanState(loadJSON(STORE_KEY));
  const settings = Object.assign({}, DEFAULTS, loadJSON(SETTINGS_KEY) || {});
  let apiKey = localStorage.getItem(API_KEY_KEY) || '';
  let busy = null; // the answer being streamed: {controller, conv, msg}

  const persist = () => saveJSON(STORE_KEY, state);
  const currentConv = () => state.conversations.find((c) => c.id === state.current) || null;

  // ---------------------------------------------------------------------------------------------- markdown
  // Block level: fenced code, headings, lists, block quotes, rules, paragraphs. Inline: code, strong, emphasis,
  // strike-through, http(s) links. Everything else stays literal text.
  const FENCE = /^\s{0,3}(```+|~~~+)\s*([^`\s]*)[^`]*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const BULLET = /^(\s*)[-*+]\s+(.*)$/;
  const ORDERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function renderMarkdown(text, parent) {
    const lines = text.split('\n');
    let i = 0;
    const startsBlock = (l) => FENCE.test(l) || HEADING.test(l) || BULLET.test(l) || ORDERED.test(l) ||
                               QUOTE.test(l) || RULE.test(l);
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = FENCE.exec(line))) {
        const close = m[1];
        const code = [];
        const closes = (l) => l.trim().startsWith(close) && l.trim().replace(/[`~]/g, '') === '';
        for (i++; i < lines.length && !closes(lines[i]); i++)
          code.push(lines[i]);
        i++; // the closing fence (absent while the block is still streaming in)
        parent.append(codeBlock(m[2], code.join('\n')));
      } else if (/^\s*$/.test(line)) {
        i++;
      } else if (RULE.test(line)) {
        parent.append(el('hr'));
        i++;
      } else if ((m = HEADING.exec(line))) {
        const h = el('h' + Math.min(m[1].length + 1, 6));
        inline(m[2], h);
        parent.append(h);
        i++;
      } else if (QUOTE.test(line)) {
        const inner = [];
        for (; i < lines.length && (m = QUOTE.exec(lines[i])); i++) inner.push(m[1]);
        const q = el('blockquote');
        renderMarkdown(inner.join('\n'), q);
        parent.append(q);
      } else if (BULLET.test(line) || ORDERED.test(line)) {
        i = renderMdList(lines, i, parent);
      } else {
        const para = [];
        for (; i < lines.length && !/^\s*$/.test(lines[i]) && (para.length === 0 || !startsBlock(lines[i])); i++)
          para.push(lines[i]);
        const p = el('p');
        inline(para.join('\n'), p);
        parent.append(p);
      }
    }
  }

  // A list: items of the first line's kind at its indentation; deeper-indented items become a nested list,
  // other indented lines continue the item.
  function renderMdList(lines, i, parent) {
    const first = ORDERED.exec(lines[i]);
    const ordered = !!first;
    const indent = (first || BULLET.exec(lines[i]))[1].length;
    const list = el(ordered ? 'ol' : 'ul');
    if (ordered && first[2] !== '1') list.start = parseInt(first[2], 10);
    let item = null;
    while (i < lines.length) {
      const line = lines[i];
      const m = ordered ? ORDERED.exec(line) : BULLET.exec(line);
      const other = ordered ? BULLET.exec(line) : ORDERED.exec(line);
      if (m && m[1].length === indent) {
        item = el('li');
        inline(ordered ? m[3] : m[2], item);
        list.append(item);
        i++;
      } else if ((m || other) && (m || other)[1].length > indent && item) {
        i = renderMdList(lines, i, item);
      } else if (item && /^\s+\S/.test(line) && !(m || other)) {
        item.append(document.createElement('br'));
        inline(line.trim(), item);
        i++;
      } else {
        break;
      }
    }
    parent.append(list);
    return i;
  }

  // One alternative per inline element; the capture groups say which matched (see inline()).
  const INLINE = new RegExp([
    /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/.source,      // 1, 2: code span
    /\*\*(?=\S)([\s\S]*?\S)\*\*/.source,             // 3: strong
    /__(?=\S)([\s\S]*?\S)__/.source,                 // 4: strong
    /\*(?=[^\s*])([\s\S]*?[^\s*])\*/.source,          // 5: emphasis
    /(?<![\w])_(?=[^\s_])([\s\S]*?[^\s_])_(?![\w])/.source, // 6: emphasis (not inside snake_case words)
    /~~(?=\S)([\s\S]*?\S)~~/.source,                 // 7: strike-through
    /\[([^\]\n]+)\]\(([^()\s]+)\)/.source,             // 8, 9: link
  ].join('|'), 'g');

  function appendText(parent, s) {
    const parts = s.split('\n');
    parts.forEach((part, k) => {
      if (k > 0) parent.append(document.createElement('br'));
      if (part) parent.append(document.createTextNode(part));
    });
  }

  function safeUrl(s) {
    try {
      const u = new URL(s);
      return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
    } catch (e) {
      return null;
    }
  }

  function inline(text, parent) {
    let last = 0;
    for (const m of text.matchAll(INLINE)) {
      appendText(parent, text.slice(last, m.index));
      last = m.index + m[0].length;
      let node;
      if (m[1]) {
        node = el('code', null, m[2]);
      } else if (m[3] !== undefined || m[4] !== undefined) {
        node = el('strong');
        inline(m[3] !== undefined ? m[3] : m[4], node);
      } else if (m[5] !== undefined || m[6] !== undefined) {
        node = el('em');
        inline(m[5] !== undefined ? m[5] : m[6], node);
      } else if (m[7] !== undefined) {
        node = el('del');
        inline(m[7], node);
      } else {
        const href = safeUrl(m[9]);
        if (!href) {
          appendText(parent, m[0]);
          continue;
        }
        node = el('a');
        node.href = href;
        node.rel = 'noopener noreferrer nofollow';
        node.target = '_blank';
        inline(m[8], node);
      }
      parent.append(node);
    }
    appendText(parent, text.slice(last));
  }

  function codeBlock(lang, code, extraClass) {
    const box = el('div', 'codeblock' + (extraClass ? ' ' + extraClass : ''));
    const head = el('div', 'code-head');
    head.append(el('span', 'lang', lang || 'code'), copyButton(() => code, 'Copy code'));
    const pre = el('pre');
    pre.append(el('code', null, code));
    box.append(head, pre);
    return box;
  }

  // ---------------------------------------------------------------------------------------------- clipboard
  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (e) { // http:// on another machine is not a secure context: the old way still works there
      const t = el('textarea');
      t.value = text;
      t.setAttribute('readonly', '');
      t.style.position = 'fixed';
      t.style.opacity = '0';
      document.body.append(t);
      t.select();
      let ok = false;
      try {
        ok = document.execCommand('copy');
      } catch (e2) { /* ok stays false */ }
      t.remove();
      return ok;
    }
  }

  function copyButton(getText, label) {
    const b = el('button', 'link copy', 'Copy');
    b.type = 'button';
    b.setAttribute('aria-label', label);
    b.addEventListener('click', async () => {
      const ok = await copyText(getText());
      b.textContent = ok ? 'Copied' : 'Copy failed';
      announce(ok ? 'Copied' : 'Copy failed');
      setTimeout(() => { b.textContent = 'Copy'; }, 1500);
    });
    return b;
  }

  // ---------------------------------------------------------------------------------------------- messages
  function toolCallsText(calls) {
    return JSON.stringify(calls.map((c) => {
      const f = c.function || {};
      let args = f.arguments;
      try {
        args = JSON.parse(f.arguments);
      } catch (e) { /* keep the text as sent */ }
      return { name: f.name, arguments: args };
    }), null, 2);
  }

  function statsText(s) {
    if (!s) return '';
    const parts = [];
    if (s.ttft_ms != null) parts.push('TTFT ' + Math.round(s.ttft_ms) + ' ms');
    if (s.tps != null) parts.push(s.tps.toFixed(1) + ' tok/s');
    if (s.tokens != null) parts.push(s.tokens + (s.tokens === 1 ? ' token' : ' tokens'));
    return parts.join(' · ');
  }

  function fillBody(body, msg) {
    body.replaceChildren();
    if (msg.role === 'user') {
      body.textContent = msg.content;
      return;
    }
    renderMarkdown(msg.content, body);
    if (msg.tool_calls && msg.tool_calls.length)
      body.append(codeBlock('tool call', toolCallsText(msg.tool_calls), 'toolcall'));
  }

  function messageElement(conv, msg, index) {
    const box = el('div', 'msg ' + msg.role);
    box.dataset.index = index;
    box.append(el('div', 'who', msg.role === 'user' ? 'You' : 'Assistant'));
    const body = el('div', 'body');
    fillBody(body, msg);
    box.append(body);
    const foot = el('div', 'foot');
    if (msg.role === 'assistant') {
      box.dataset.state = msg.note === 'Stopped' ? 'stopped' : 'done';
      foot.append(el('span', 'stats', statsText(msg.stats)));
      if (msg.note) foot.append(el('span', 'note', msg.note));
    }
    foot.append(copyButton(() => msg.content || (msg.tool_calls ? toolCallsText(msg.tool_calls) : ''),
                           'Copy this message'));
    if (msg.role === 'assistant' && index === conv.messages.length - 1 && !busy) {
      const regen = el('button', 'link regenerate', 'Regenerate');
      regen.type = 'button';
      regen.setAttribute('aria-label', 'Regenerate this answer');
      regen.addEventListener('click', () => regenerate());
      foot.append(regen);
    }
    box.append(foot);
    return box;
  }

  function renderConversation() {
    const conv = currentConv();
    const list = $('messages');
    list.replaceChildren();
    $('chat-title').textContent = conv ? conv.title : UNTITLED;
    document.title = (conv ? conv.title + ' — ' : '') + 'llamac chat';
    if (!conv || conv.messages.length === 0) {
      list.append(emptyNote);
      return;
    }
    conv.messages.forEach((m, k) => list.append(messageElement(conv, m, k)));
    list.scrollTop = list.scrollHeight;
  }

  function renderList() {
    const ul = $('conversations');
    ul.replaceChildren();
    const sorted = [...state.conversations].sort((a, b) => b.updated - a.updated);
    for (const c of sorted) {
      const li = el('li');
      li.dataset.id = c.id;
      if (c.id === state.current) li.className = 'current';
      const open = el('button', 'open', c.title);
      open.type = 'button';
      if (c.id === state.current) open.setAttribute('aria-current', 'true');
      open.addEventListener('click', () => switchTo(c.id));
      const rename = el('button', 'link rename', 'Rename');
      rename.type = 'button';
      rename.setAttribute('aria-label', 'Rename “' + c.title + '”');
      rename.addEventListener('click', () => startRename(li, c));
      const del = el('button', 'link delete', 'Delete');
      del.type = 'button';
      del.setAttribute('aria-label', 'Delete “' + c.title + '”');
      del.addEventListener('click', () => removeConv(c));
      li.append(open, rename, del);
      ul.append(li);
    }
  }

  function startRename(li, conv) {
    const input = el('input', 'rename-input');
    input.value = conv.title;
    input.setAttribute('aria-label', 'New name');
    li.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      const t = input.value.trim();
      if (keep && t) {
        conv.title = t.slice(0, 200);
        persist();
      }
      renderList();
      renderConversation();
      const again = $('conversations').querySelector('li[data-id="' + CSS.escape(conv.id) + '"] .rename');
      if (again) again.focus();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); }
      if (e.key === 'Escape') { e.preventDefault(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
  }

  function removeConv(conv) {
    if (!window.confirm('Delete “' + conv.title + '”?')) return;
    if (busy && busy.conv === conv) busy.controller.abort();
    state.conversations = state.conversations.filter((c) => c !== conv);
    if (state.current === conv.id) {
      const next = [...state.conversations].sort((a, b) => b.updated - a.updated)[0];
      state.current = next ? next.id : null;
    }
    persist();
    renderAll();
    $('new-chat').focus();
  }

  function switchTo(id) {
    if (busy && busy.conv.id !== id) busy.controller.abort();
    state.current = id;
    persist();
    hideError();
    renderAll();
    closeSidebar();
    $('input').focus();
  }

  function newChat() {
    if (busy) busy.controller.abort();
    state.current = null;
    persist();
    hideError();
    renderAll();
    closeSidebar();
    $('input').focus();
  }

  function renderAll() {
    renderList();
    renderConversation();
  }

  // ---------------------------------------------------------------------------------------------- errors
  function showError(err, retry) {
    $('error-text').textContent = err.message;
    $('error').hidden = false;
    $('error').dataset.kind = err.kind || 'other';
    const keyForm = $('key-form');
    keyForm.hidden = err.kind !== 'auth';
    $('error-retry').hidden = !retry || err.kind === 'auth';
    errorRetry = retry || null;
    if (err.kind === 'auth') {
      $('key-input').value = '';
      $('key-input').focus();
    }
  }
  let errorRetry = null;
  function hideError() {
    $('error').hidden = true;
    errorRetry = null;
  }

  function networkError(e) {
    return { kind: 'network', message: 'Cannot reach the server at ' + location.host + ': is `llamac serve` still ' +
             'running? (' + (e && e.message ? e.message : 'connection failed') + ')' };
  }

  function apiError(status, body) {
    const e = (body && body.error) || {};
    const msg = typeof e.message === 'string' ? e.message : '';
    if (status === 401)
      return { kind: 'auth', message: apiKey ? 'The server refused the API key saved in this browser (HTTP 401). ' +
               'Enter the right key:' : 'This server needs an API key (HTTP 401). Enter it to continue:' };
    if (e.code === 'context_length_exceeded' || /context/i.test(msg))
      return { kind: 'context', message: 'The conversation no longer fits in the model’s context' +
               (msg ? ' (' + msg + ')' : '') + '. Shorten it, or start a new chat.' };
    return { kind: 'server', message: 'The server answered' + (status ? ' HTTP ' + status : '') + ': ' +
             (msg || 'an error without a message') + '.' };
  }

  async function responseError(res) {
    let body = null;
    try {
      body = JSON.parse(await res.text());
    } catch (e) { /* not JSON: the status says enough */ }
    return apiError(res.status, body);
  }

  function authHeaders() {
    const h = {};
    if (apiKey) h.Authorization = 'Bearer ' + apiKey;
    return h;
  }

  // ---------------------------------------------------------------------------------------------- streaming
  // The request for the answer `pending` (already at the end of the conversation, so left out).
  function requestBody(conv, pending) {
    const messages = [];
    if (settings.system.trim()) messages.push({ role: 'system', content: settings.system });
    for (const m of conv.messages) {
      if (m === pending || (m.role === 'assistant' && !m.content && !(m.tool_calls && m.tool_calls.length)))
        continue; // a stopped answer with nothing in it
      if (m.role === 'assistant' && m.tool_calls && m.tool_calls.length)
        messages.push({ role: 'assistant', content: m.content || null, tool_calls: m.tool_calls });
      else
        messages.push({ role: m.role, content: m.content });
    }
    const body = { messages, stream: true, stream_options: { include_usage: true } };
    const tools = parseTools(settings.tools);
    if (Array.isArray(tools) && tools.length) body.tools = tools;
    const num = (v) => (v === '' || v === null || !isFinite(Number(v)) ? undefined : Number(v));
    if (num(settings.temperature) !== undefined) body.temperature = num(settings.temperature);
    if (num(settings.top_p) !== undefined) body.top_p = num(settings.top_p);
    if (num(settings.max_tokens) !== undefined) body.max_tokens = Math.round(num(settings.max_tokens));
    return body;
  }

  // The tools setting: '' -> null; else the parsed array, or an Error saying what is wrong.
  function parseTools(text) {
    if (!str(text).trim()) return null;
    try {
      const v = JSON.parse(text);
      return Array.isArray(v) ? v : new Error('Tools must be a JSON array of tool definitions.');
    } catch (e) {
      return new Error('Tools are not valid JSON: ' + e.message);
    }
  }

  // Reads "data: ..." events from the response body; calls onData(parsed JSON) for each, stops at [DONE].
  async function readEvents(res, onData) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, '');
        const data = event.split(/\r?\n/).filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).replace(/^ /, '')).join('\n');
        if (!data) continue;
        if (data === '[DONE]') return;
        let obj;
        try {
          obj = JSON.parse(data);
        } catch (e) {
          throw { kind: 'server', message: 'The server sent an event that is not JSON: ' + data.slice(0, 120) };
        }
        onData(obj);
      }
      if (buf.length > 8 << 20) throw { kind: 'server', message: 'The server sent an event larger than 8 MiB.' };
    }
  }

  function mergeToolCalls(msg, deltas) {
    msg.tool_calls = msg.tool_calls || [];
    for (const d of deltas) {
      const k = Number.isInteger(d.index) ? d.index : msg.tool_calls.length;
      const call = msg.tool_calls[k] || (msg.tool_calls[k] = { id: '', type: 'function',
                                                               function: { name: '', arguments: '' } });
      if (d.id) call.id = d.id;
      if (d.type) call.type = d.type;
      if (d.function) {
        if (d.function.name) call.function.name += d.function.name;
        if (d.function.arguments) call.function.arguments += d.function.arguments;
      }
    }
  }

  async function generate(conv) {
    hideError();
    const msg = { role: 'assistant', content: '', tool_calls: null, stats: null, note: '' };
    conv.messages.push(msg);
    conv.updated = Date.now();
    persist();
    const controller = new AbortController();
    busy = { controller, conv, msg }; // before rendering: no Regenerate button on the answer being written
    renderAll();
    const box = $('messages').lastElementChild;
    const body = box.querySelector('.body');
    box.classList.add('streaming');
    box.dataset.state = 'streaming';
    body.setAttribute('aria-busy', 'true');
    setBusy(true);

    const t0 = performance.now();
    let tFirst = null, chunks = 0, usage = null, finish = null, error = null, painted = true;
    const paint = () => {
      painted = true;
      if (busy && busy.msg === msg && box.isConnected) {
        fillBody(body, msg);
        const list = $('messages');
        if (list.scrollHeight - list.scrollTop - list.clientHeight < 120) list.scrollTop = list.scrollHeight;
      }
    };
    try {
      let res;
      try {
        res = await fetch('/v1/chat/completions', {
          method: 'POST', signal: controller.signal,
          headers: Object.assign({ 'Content-Type': 'application/json' }, authHeaders()),
          body: JSON.stringify(requestBody(conv, msg)),
        });
      } catch (e) {
        throw e.name === 'AbortError' ? e : networkError(e);
      }
      if (!res.ok) throw await responseError(res);
      try {
        await readEvents(res, (obj) => {
          if (obj.error) throw apiError(0, obj);
          if (obj.usage) usage = obj.usage;
          const choice = obj.choices && obj.choices[0];
          if (!choice) return;
          const d = choice.delta || {};
          if (typeof d.content === 'string' && d.content) {
            if (tFirst === null) tFirst = performance.now();
            msg.content += d.content;
            chunks++;
          }
          if (Array.isArray(d.tool_calls)) {
            if (tFirst === null) tFirst = performance.now();
            mergeToolCalls(msg, d.tool_calls);
          }
          if (choice.finish_reason) finish = choice.finish_reason;
          if (painted) {
            painted = false;
            requestAnimationFrame(paint);
          }
        });
      } catch (e) {
        if (e.name === 'AbortError' || e.kind) throw e;
        throw { kind: 'network', message: 'The connection to the server broke during the answer (' + e.message + ').' };
      }
    } catch (e) {
      if (e.name === 'AbortError') msg.note = 'Stopped';
      else error = e.kind ? e : networkError(e);
    }
    const tEnd = performance.now();
    busy = null;
    if (tFirst !== null) {
      const tokens = usage && Number.isInteger(usage.completion_tokens) ? usage.completion_tokens : chunks;
      const secs = (tEnd - tFirst) / 1000;
      // a rate only when the text came token by token (a tool call arrives whole: no meaningful rate)
      const tps = chunks > 1 && tokens > 1 && secs > 0 ? (tokens - 1) / secs : null;
      msg.stats = { ttft_ms: tFirst - t0, tokens, tps };
    }
    if (finish === 'length' && !msg.note) msg.note = 'Cut off: the max tokens setting or the context size was reached';
    else if (!finish && !error && !msg.note) msg.note = 'Incomplete: the server closed the stream before the end';
    if (error && !msg.content && !msg.tool_calls) conv.messages.pop();
    else if (error) msg.note = 'Interrupted';
    const last = conv.messages[conv.messages.length - 1];
    if (error && error.kind === 'context' && last && last.role === 'user' && !$('input').value) {
      // asking again cannot help: the unanswered message goes back into the box, to shorten or take elsewhere
      conv.messages.pop();
      $('input').value = last.content;
      autosize();
      error = Object.assign({}, error, { message: error.message + ' Your message is back in the box.' });
    }
    conv.updated = Date.now();
    persist();
    setBusy(false);
    if (state.current === conv.id) renderConversation();
    renderList();
    if (error) {
      showError(error, error.kind === 'context' ? null : () => {
        if (conv.messages.length && conv.messages[conv.messages.length - 1].role === 'assistant')
          conv.messages.pop();
        state.current = conv.id;
        generate(conv);
      });
      announce(error.message);
    } else {
      announce(msg.note === 'Stopped' ? 'Answer stopped' : 'Answer finished');
    }
  }

  function setBusy(on) {
    $('send').hidden = on;
    $('stop').hidden = !on;
    if (!on && document.activeElement === document.body) $('input').focus();
  }

  function announce(text) {
    $('status').textContent = text;
  }

  function sendMessage() {
    const input = $('input');
    const text = input.value;
    if (busy || !text.trim()) return;
    let conv = currentConv();
    if (!conv) {
      conv = { id: 'c' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8), title: UNTITLED,
               updated: Date.now(), messages: [] };
      state.conversations.push(conv);
      state.current = conv.id;
    }
    if (conv.title === UNTITLED && conv.messages.length === 0)
      conv.title = text.trim().replace(/\s+/g, ' ').slice(0, 48);
    conv.messages.push({ role: 'user', content: text, tool_calls: null, stats: null, note: '' });
    input.value = '';
    autosize();
    generate(conv);
  }

  function regenerate() {
    const conv = currentConv();
    if (busy || !conv || !conv.messages.length) return;
    if (conv.messages[conv.messages.length - 1].role === 'assistant') conv.messages.pop();
    generate(conv);
  }

  // ---------------------------------------------------------------------------------------------- model name
  async function loadModel() {
    let res;
    try {
      res = await fetch('/v1/models', { headers: authHeaders() });
    } catch (e) {
      showError(networkError(e), loadModel);
      return;
    }
    if (res.status === 401) {
      showError(apiError(401, null), loadModel);
      return;
    }
    if (!res.ok) return; // an older server without /v1/models: the chat still works
    try {
      const js = await res.json();
      const id = js && js.data && js.data[0] && js.data[0].id;
      $('model').textContent = typeof id === 'string' ? id : '';
    } catch (e) { /* no name shown */ }
  }

  // ---------------------------------------------------------------------------------------------- wiring
  function autosize() {
    const t = $('input');
    t.style.height = 'auto';
    t.style.height = Math.min(t.scrollHeight + 2, window.innerHeight * 0.4) + 'px';
  }

  function closeSidebar() {
    $('sidebar').classList.remove('open');
    $('open-sidebar').setAttribute('aria-expanded', 'false');
  }

  const emptyNote = $('empty');

  function init() {
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      sendMessage();
    });
    $('input').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        sendMessage();
      } else if (e.key === 'Escape' && busy) {
        busy.controller.abort();
      }
    });
    $('input').addEventListener('input', autosize);
    $('stop').addEventListener('click', () => {
      if (busy) busy.controller.abort();
      $('input').focus();
    });
    $('new-chat').addEventListener('click', newChat);
    $('open-sidebar').addEventListener('click', () => {
      $('sidebar').classList.add('open');
      $('open-sidebar').setAttribute('aria-expanded', 'true');
      $('new-chat').focus();
    });
    $('close-sidebar').addEventListener('click', () => {
      closeSidebar();
      $('open-sidebar').focus();
    });
    $('sidebar').addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && $('sidebar').classList.contains('open')) {
        closeSidebar();
        $('open-sidebar').focus();
      }
    });
    $('toggle-settings').addEventListener('click', () => {
      const s = $('settings');
      s.hidden = !s.hidden;
      $('toggle-settings').setAttribute('aria-expanded', String(!s.hidden));
      if (!s.hidden) $('system').focus();
    });
    const fields = { system: 'system', temperature: 'temperature', 'top-p': 'top_p', 'max-tokens': 'max_tokens',
                     tools: 'tools' };
    const checkTools = () => {
      const t = parseTools(settings.tools);
      $('tools-error').textContent = t instanceof Error ? t.message + ' They are not sent until fixed.' : '';
    };
    for (const [id, key] of Object.entries(fields)) {
      $(id).value = settings[key];
      $(id).addEventListener('change', () => {
        settings[key] = id === 'system' || id === 'tools' ? $(id).value : $(id).value.trim();
        saveJSON(SETTINGS_KEY, settings);
        checkTools();
      });
    }
    checkTools();
    $('api-key').value = apiKey;
    $('api-key').addEventListener('change', () => {
      apiKey = $('api-key').value.trim();
      localStorage.setItem(API_KEY_KEY, apiKey);
    });
    $('key-form').addEventListener('submit', (e) => {
      e.preventDefault();
      apiKey = $('key-input').value.trim();
      localStorage.setItem(API_KEY_KEY, apiKey);
      $('api-key').value = apiKey;
      const retry = errorRetry;
      hideError();
      loadModel();
      if (retry && retry !== loadModel) retry();
      $('input').focus();
    });
    $('error-retry').addEventListener('click', () => {
      const retry = errorRetry;
      hideError();
      if (retry) retry();
    });
    $('error-close').addEventListener('click', () => {
      hideError();
      $('input').focus();
    });
    renderAll();
    loadModel();
    $('input').focus();
  }

  init();
})();
