/*
 * llamac_chat.h — part of the public API (included by llamac.h): Llama 3.x chat formats and tool calls.
 *
 * This is not a Jinja engine. It reproduces, in C, what the Llama 3.0 / 3.1 / 3.2 / 3.3 Instruct chat templates
 * render (see docs/CHAT_FORMAT.md for every rule and the few places where a choice was made), and parses a
 * model's tool calls back into OpenAI-style JSON.
 *
 * How to use (error handling shortened):
 *
 *     llamac_chat_detection det;
 *     llamac_chat_detect(llamac_model_gguf(model), &det);     // from tokenizer.chat_template, specials, name
 *     if (det.format == LLAMAC_CHAT_UNKNOWN) {                 // e.g. a ChatML fine-tune
 *         fprintf(stderr, "warning: %s\n", det.message);       // the caller decides whether to fall back
 *         det.format = det.fallback;
 *     }
 *     llamac_chat *chat;
 *     llamac_chat_create(&chat);
 *     llamac_chat_add_message(chat, "system", "You are terse.");
 *     llamac_chat_add_message(chat, "user", "Hello!");
 *
 *     llamac_chat_params cp = llamac_chat_default_params(det.format);
 *     cp.date = "26 Jul 2024";                                 // NULL: today's date
 *     llamac_chat_prompt *p;
 *     if (llamac_chat_render(chat, &cp, 0, &p) != LLAMAC_OK) puts(llamac_chat_error(chat));
 *     puts(llamac_chat_prompt_text(p, NULL));                 // specials inline, for display
 *     llamac_tokens ids = {0};
 *     llamac_chat_prompt_tokens(p, llamac_model_tokenizer(model), &ids, err, sizeof err);
 *     ... decode ids.ids[0..ids.n), generate until a stop token (llamac_token_is_stop) ...
 *     llamac_tokens_free(&ids); llamac_chat_prompt_free(p);
 *
 * Multi-turn with the KV cache kept: append the model's answer and the next user message, then render only the
 * new part with first_message = index of the first new message:
 *
 *     llamac_chat_add_message(chat, "assistant", answer);      // index 2 (its tokens are already in the cache)
 *     llamac_chat_add_message(chat, "user", "And then?");      // index 3
 *     llamac_chat_render(chat, &cp, 3, &p);                    // "<|start_header_id|>user...<|eot_id|>" + header
 *
 * Invariant: every piece of a rendering belongs to one message (BOS and the system block belong to message 0, the
 * tool definitions to the first user message that carries them), every message's piece starts and ends with a
 * special token, and text is never tokenized across a special token. Hence for any 0 < k <= n:
 *     tokens(render(first=0, no generation prompt)) ==
 *         tokens(render(first=0) restricted to messages < k) ++ tokens(render(first=k, no generation prompt))
 * i.e. a full rendering is the concatenation of the renderings of consecutive message ranges, and render(first=k)
 * with a generation prompt is exactly what to append after messages 0..k-1. (The cache holds the tokens the
 * model generated; if they differ from the rendering of the stored answer — e.g. trailing spaces the template
 * trims — re-rendering from 0 would differ there; that is the caller's choice.)
 *
 * Safety: text from messages and tools is always tokenized as plain text. "<|eot_id|>" typed by a user becomes
 * ordinary tokens (27, 91, ...), never the special token; special tokens come only from the renderer.
 *
 * Ownership: llamac_chat and llamac_chat_prompt are opaque handles freed with their *_free (NULL is a no-op).
 * Strings passed in are copied. llamac_tool_calls.json and the JSON text of the *_json getters are allocated with
 * malloc and belong to the caller (release with free()); token ids are appended to a caller-owned llamac_tokens.
 */
#ifndef LLAMAC_CHAT_H
#define LLAMAC_CHAT_H

#include "llamac.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------------------
 * Formats and detection
 * ------------------------------------------------------------------------------------------------------- */
typedef enum llamac_chat_format {
    LLAMAC_CHAT_UNKNOWN = 0,   /* not a Llama 3 chat format (or nothing identified one) */
    LLAMAC_CHAT_LLAMA3_0 = 30, /* Llama 3: headers + <|eot_id|>, no system block injected, no tools */
    LLAMAC_CHAT_LLAMA3_1 = 31, /* Llama 3.1: default system block with dates, built-in and custom tools */
    LLAMAC_CHAT_LLAMA3_2 = 32, /* Llama 3.2 1B/3B: as 3.1 without built-in tools; pythonic tool calls */
    LLAMAC_CHAT_LLAMA3_3 = 33  /* Llama 3.3: renders exactly as 3.1 (same HF template); pythonic calls too */
} llamac_chat_format;

/* "llama3", "llama3.1", "llama3.2", "llama3.3" or "unknown". Never NULL. */
const char *llamac_chat_format_name(llamac_chat_format format);

/* Parses a format name for an explicit override: "3", "3.0", "3.1", "3.2", "3.3", optionally prefixed by
 * "llama" or "llama-" (case-insensitive), e.g. "llama3.1". Returns LLAMAC_CHAT_UNKNOWN for anything else. */
llamac_chat_format llamac_chat_format_parse(const char *name);

/* Recognises a chat template's text: the Llama 3.0 template, the 3.1/3.3 template (builtin_tools), the 3.2
 * template (strftime_now, no builtin_tools). LLAMAC_CHAT_LLAMA3_1 stands for "3.1 or 3.3" (identical templates);
 * LLAMAC_CHAT_UNKNOWN means "not a Llama 3 template". */
llamac_chat_format llamac_chat_detect_template(const char *tmpl, size_t len);

typedef enum llamac_chat_source {
    LLAMAC_CHAT_SRC_NONE = 0,       /* nothing in the file identified a Llama 3 format */
    LLAMAC_CHAT_SRC_TEMPLATE,       /* tokenizer.chat_template (refined by general.name for 3.1 vs 3.3) */
    LLAMAC_CHAT_SRC_SPECIAL_TOKENS, /* no template: special-token names (<|eom_id|>/<|python_tag|> => 3.1+) */
    LLAMAC_CHAT_SRC_NAME            /* no template, no telling specials: general.name ("Llama-3.2-...") */
} llamac_chat_source;

typedef struct llamac_chat_detection {
    llamac_chat_format format;   /* the detected format; LLAMAC_CHAT_UNKNOWN when the file's template is not a
                                    Llama 3 one, or when nothing identified a format */
    llamac_chat_format fallback; /* the best Llama 3 guess for a caller who falls back anyway (from specials and
                                    name; LLAMAC_CHAT_LLAMA3_1 when nothing helps). Never UNKNOWN. */
    llamac_chat_source source;   /* what decided `format` */
    int has_template;            /* 1 if the file has tokenizer.chat_template */
    int template_is_llama3;      /* 1 if that template was recognised as a Llama 3.x template */
    char message[320];           /* one line saying what was found, e.g. "chat template is not a Llama 3
                                    template (it contains <|im_start|>) ..." */
} llamac_chat_detection;

/* Detects the chat format from a GGUF file's metadata: tokenizer.chat_template first, then the special-token
 * names in tokenizer.ggml.tokens, then general.name. A template that is present but not a Llama 3 template gives
 * format = LLAMAC_CHAT_UNKNOWN (with the reason in message) even if the tokens look like Llama 3: the model was
 * fine-tuned on another format. Returns LLAMAC_E_INVALID_ARG for NULL arguments, else LLAMAC_OK. */
llamac_status llamac_chat_detect(const llamac_gguf *gguf, llamac_chat_detection *out);

/* ---------------------------------------------------------------------------------------------------------
 * Conversation
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_chat llamac_chat;

llamac_status llamac_chat_create(llamac_chat **out);
void llamac_chat_free(llamac_chat *chat);

/* The message of the last failed call on chat ("" if none). Valid until the next call on chat. */
const char *llamac_chat_error(const llamac_chat *chat);

/* Appends a message with plain-text content. role: "system", "user", "assistant", "tool" or "ipython" ("tool"
 * and "ipython" both render as the ipython role). content must be valid UTF-8 (it may be ""). */
llamac_status llamac_chat_add_message(llamac_chat *chat, const char *role, const char *content);

/* Appends one OpenAI-style message object, e.g.
 *   {"role":"user","content":"Hi"}
 *   {"role":"user","content":[{"type":"text","text":"Hi"}]}          (text parts are joined with "\n")
 *   {"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}
 *   {"role":"tool","content":{"temp":20}}                            (objects/arrays rendered as JSON)
 * "arguments" may be an object or a JSON string holding an object. Nothing is appended on error. */
llamac_status llamac_chat_add_message_json(llamac_chat *chat, const char *json, size_t len);

/* Replaces the whole conversation with an OpenAI-style request object:
 *   {"messages":[...], "tools":[{"type":"function","function":{"name":..., "description":..., "parameters":...}}],
 *    "builtin_tools":["brave_search","wolfram_alpha","code_interpreter"]}     (builtin_tools: llamac extension)
 * Every field is validated (unknown role, missing content, bad tool definition ...) and the error names the
 * offending element ("messages[2]: unknown role 'robot'"). The chat is unchanged on error. */
llamac_status llamac_chat_load_json(llamac_chat *chat, const char *json, size_t len);

/* Sets the custom tool definitions (a JSON array like "tools" above; "[]" or NULL removes them) and the built-in
 * tools (names, NULL or n = 0 removes them). */
llamac_status llamac_chat_set_tools_json(llamac_chat *chat, const char *json, size_t len);
llamac_status llamac_chat_set_builtin_tools(llamac_chat *chat, const char *const *names, int n);

int llamac_chat_n_messages(const llamac_chat *chat);
/* Keeps messages 0..n-1 (n <= count); tools are kept. */
llamac_status llamac_chat_truncate(llamac_chat *chat, int n);
/* Removes messages first..first+n-1 (the later ones move down); tools are kept. */
llamac_status llamac_chat_remove(llamac_chat *chat, int first, int n);

/* Reading the conversation back (NULL-safe: a NULL chat or an index outside 0..n-1 gives NULL, 0 or
 * LLAMAC_E_INVALID_ARG). Strings returned by pointer are valid until the message is removed or replaced.
 * The role as given: "system", "user", "assistant", "tool" or "ipython". */
const char *llamac_chat_message_role(const llamac_chat *chat, int i);
/* The text content ("" when the message has none: tool calls only, or a tool result given as a JSON object or
 * array, which llamac_chat_message_json shows); *len (if not NULL) gets its length. */
const char *llamac_chat_message_content(const llamac_chat *chat, int i, size_t *len);
int llamac_chat_message_n_tool_calls(const llamac_chat *chat, int i);
/* Message i as an OpenAI-style object (one line of JSON), e.g.
 *   {"role":"user","content":"Hi"}
 *   {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
 *    "function":{"name":"f","arguments":"{\"a\": 1}"}}]}          (arguments as a JSON string; "id" if it had one)
 *   {"role":"tool","content":{"temp":20},"tool_call_id":"call_1"}
 * *out is malloc'd (release with free()), NULL on error. */
llamac_status llamac_chat_message_json(const llamac_chat *chat, int i, char **out);
/* The custom tool definitions as a JSON array, or *out = NULL when there are none. malloc'd. */
llamac_status llamac_chat_tools_json(const llamac_chat *chat, char **out);
/* The whole conversation as {"messages":[...], "tools":[...], "builtin_tools":[...]} (tools only when set), the
 * document llamac_chat_load_json reads back. malloc'd. */
llamac_status llamac_chat_dump_json(const llamac_chat *chat, char **out);

/* ---------------------------------------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------------------------------------- */
typedef struct llamac_chat_params {
    llamac_chat_format format;  /* required: LLAMAC_CHAT_LLAMA3_0 .. LLAMAC_CHAT_LLAMA3_3 */
    const char *date;           /* the "Today Date: " value (3.1+), e.g. "26 Jul 2024"; NULL (default) = today's
                                   local date as "%d %b %Y" with English month names. Copied during the call. */
    int add_generation_prompt;  /* 1 (default): end with "<|start_header_id|>assistant<|end_header_id|>\n\n" */
    int tools_in_user_message;  /* 1 (default, as the HF templates): custom tool definitions go into the first
                                   user message; 0: into the system block */
    int tool_content_raw;       /* 0 (default, as the HF templates): a tool/ipython message's string content is
                                   rendered as a JSON string ("..." with escapes); 1: verbatim, as Meta's docs */
} llamac_chat_params;

llamac_chat_params llamac_chat_default_params(llamac_chat_format format);

/* A rendered prompt: segments that are either text (to be tokenized as plain text) or one special token. */
typedef struct llamac_chat_prompt llamac_chat_prompt;

typedef struct llamac_chat_segment {
    int is_special;   /* 1: text names a special token ("<|start_header_id|>"); 0: plain text */
    const char *text; /* valid until llamac_chat_prompt_free; NUL-terminated */
    size_t len;       /* bytes of text */
    int message;      /* index of the message this segment belongs to; n_messages for the generation prompt */
} llamac_chat_segment;

/* Renders messages first_message..n-1 (0 = the whole conversation, from <|begin_of_text|>) plus, if asked, the
 * generation prompt. first_message may equal n_messages (then only the generation prompt). Errors (recorded in
 * llamac_chat_error): LLAMAC_E_INVALID_ARG for a bad format or first_message, LLAMAC_E_UNSUPPORTED for what the
 * chosen format cannot express (tools with Llama 3.0, two tool calls in one message, tools but no first user
 * message ...). *out is NULL on error. */
llamac_status llamac_chat_render(llamac_chat *chat, const llamac_chat_params *params, int first_message,
                                 llamac_chat_prompt **out);
void llamac_chat_prompt_free(llamac_chat_prompt *prompt);

int llamac_chat_prompt_n_segments(const llamac_chat_prompt *prompt);
/* Segment i (0 <= i < n_segments); returns LLAMAC_E_INVALID_ARG for a bad index. */
llamac_status llamac_chat_prompt_segment(const llamac_chat_prompt *prompt, int i, llamac_chat_segment *out);

/* The whole rendering as one string with special tokens written inline, as a Jinja template would produce it.
 * For display and debugging only: tokenizing this string with special-token parsing is NOT equivalent when a
 * message contains special-token text. Valid until llamac_chat_prompt_free; *len (if not NULL) gets the length. */
const char *llamac_chat_prompt_text(const llamac_chat_prompt *prompt, size_t *len);

/* Appends the token ids of the rendering to *out: adjacent text segments are joined and encoded as plain text
 * (no special-token parsing, no BOS added), special segments are looked up by name in the tokenizer's
 * vocabulary; the only BOS is the renderer's <|begin_of_text|> segment (present when first_message is 0).
 * Errors (with a message in err; *out keeps its previous contents): LLAMAC_E_TOKENIZER when the vocabulary
 * lacks a needed special token (e.g. a Llama 3.0 vocabulary has no <|python_tag|>), LLAMAC_E_INVALID_ARG,
 * LLAMAC_E_NOMEM. */
llamac_status llamac_chat_prompt_tokens(const llamac_chat_prompt *prompt, const llamac_tokenizer *tok,
                                        llamac_tokens *out, char *err, size_t err_size);

/* ---------------------------------------------------------------------------------------------------------
 * Tool calls in model output
 * ------------------------------------------------------------------------------------------------------- */
typedef enum llamac_tool_call_kind {
    LLAMAC_TOOL_CALL_NONE = 0,     /* the text is not a tool call (an ordinary answer) */
    LLAMAC_TOOL_CALL_JSON,         /* {"name": ..., "parameters"|"arguments": {...}} (optionally after
                                      <|python_tag|>; also {"type":"function",...} and arrays of such objects) */
    LLAMAC_TOOL_CALL_FUNCTION_TAG, /* <function=NAME>{...}</function> (one or more) */
    LLAMAC_TOOL_CALL_PYTHONIC,     /* [f(a=1, b='x'), g()]  (the Llama 3.2 / 3.3 zero-shot format) */
    LLAMAC_TOOL_CALL_BUILTIN,      /* <|python_tag|>brave_search.call(query="...")  (any NAME.call(k=v, ...)) */
    LLAMAC_TOOL_CALL_CODE          /* <|python_tag|> + raw python -> code_interpreter with {"code": text} */
} llamac_tool_call_kind;

typedef struct llamac_tool_calls {
    llamac_tool_call_kind kind;
    int n_calls;     /* 0 when kind is LLAMAC_TOOL_CALL_NONE */
    char *json;      /* malloc'd (caller frees), NULL when n_calls is 0: a JSON array of OpenAI-style calls
                        [{"name":"get_weather","arguments":{"city":"Paris"}}, ...] */
} llamac_tool_calls;

/* Parses a model's answer (decoded with special tokens as text, e.g. "<|python_tag|>{...}<|eom_id|>"; a leading
 * <|python_tag|> and a trailing <|eom_id|>/<|eot_id|> are optional) into tool calls. Returns LLAMAC_OK with
 * out->kind NONE for an ordinary answer; LLAMAC_E_FORMAT with a message in err when the text is clearly a tool
 * call but malformed (truncated JSON after <|python_tag|>, positional arguments, unterminated string ...).
 * Every syntax is recognised for 3.1, 3.2 and 3.3 alike (a 3.3 file often carries the 3.1 template, so the two
 * cannot always be told apart); with LLAMAC_CHAT_LLAMA3_0 nothing is a tool call (3.0 has no tool format).
 * A JSON object without <|python_tag|> counts as a call only if it has "parameters" or "arguments" (so an answer
 * like {"name": "Bob", "age": 3} stays an answer). Never reads outside text[0..len). */
llamac_status llamac_chat_parse_tool_calls(llamac_chat_format format, const char *text, size_t len,
                                           llamac_tool_calls *out, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif

#endif
