/*
 * test_chat_toolcall.c — parsing a model's tool calls back into OpenAI-style JSON.
 *
 *   (a) every syntax Llama 3.1-3.3 emit: <|python_tag|> + JSON (parameters / arguments / {"type":"function"}
 *       variants, arrays), the HF-template JSON without python_tag, <function=NAME>{...}</function>, pythonic
 *       lists with every value kind (both quote styles, escapes, raw/triple/concatenated strings, numbers,
 *       True/False/None, lists, tuples, dicts), built-in NAME.call(...), code_interpreter raw python;
 *   (b) ordinary answers are not tool calls (prose, JSON that is data, lists of numbers, Llama 3.0);
 *   (c) malformed calls are errors with a message (truncated JSON after python_tag, positional arguments,
 *       repeated keywords, names as values, unterminated strings, bad escapes, too deep nesting);
 *   (d) a mutation fuzz: truncations and byte flips of valid calls never crash, return OK or E_FORMAT, and OK
 *       results are valid JSON arrays of {"name", "arguments": object}.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llamac.h"
#include "check.h"

#define F31 LLAMAC_CHAT_LLAMA3_1
#define F32 LLAMAC_CHAT_LLAMA3_2

static void ok(llamac_chat_format f, const char *text, llamac_tool_call_kind kind, const char *want, int line)
{
    llamac_tool_calls tc;
    char err[256] = "";
    llamac_status st = llamac_chat_parse_tool_calls(f, text, strlen(text), &tc, err, sizeof err);
    CHECK_AT(line, st == LLAMAC_OK && tc.kind == kind && tc.json && !strcmp(tc.json, want),
             "parse(%.120s)\n  status %d kind %d err '%s'\n  want %s\n  got  %s", text, st, tc.kind, err, want,
             tc.json ? tc.json : "(null)");
    free(tc.json);
}
#define OK(f, text, kind, want) ok(f, text, kind, want, __LINE__)

static void none(llamac_chat_format f, const char *text, int line)
{
    llamac_tool_calls tc;
    char err[256] = "";
    llamac_status st = llamac_chat_parse_tool_calls(f, text, strlen(text), &tc, err, sizeof err);
    CHECK_AT(line, st == LLAMAC_OK && tc.kind == LLAMAC_TOOL_CALL_NONE && !tc.json && !tc.n_calls,
             "expected no tool call in (%.120s): status %d kind %d err '%s' json %s", text, st, tc.kind, err,
             tc.json ? tc.json : "(null)");
    free(tc.json);
}
#define NONE(f, text) none(f, text, __LINE__)

static void bad(llamac_chat_format f, const char *text, const char *fragment, int line)
{
    llamac_tool_calls tc;
    char err[256] = "";
    llamac_status st = llamac_chat_parse_tool_calls(f, text, strlen(text), &tc, err, sizeof err);
    CHECK_AT(line, st == LLAMAC_E_FORMAT && !tc.json && !tc.kind && strstr(err, fragment),
             "expected an error mentioning '%s' for (%.120s): status %d err '%s' json %s", fragment, text, st, err,
             tc.json ? tc.json : "(null)");
    free(tc.json);
}
#define BAD(f, text, frag) bad(f, text, frag, __LINE__)

static void test_json_calls(void)
{
    const char *paris = "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]";
    OK(F31, "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}<|eom_id|>",
       LLAMAC_TOOL_CALL_JSON, paris);
    OK(F31, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}", LLAMAC_TOOL_CALL_JSON, paris);
    OK(F32, "  {\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}} <|eot_id|>", LLAMAC_TOOL_CALL_JSON, paris);
    OK(F31, "<|python_tag|>{\"type\": \"function\", \"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\"}}",
       LLAMAC_TOOL_CALL_JSON, paris);
    OK(F31, "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}",
       LLAMAC_TOOL_CALL_JSON, paris);
    OK(F31, "<|python_tag|>{\"name\": \"now\"}", LLAMAC_TOOL_CALL_JSON, "[{\"name\": \"now\", \"arguments\": {}}]");
    OK(F31, "[{\"name\":\"f\",\"parameters\":{}}, {\"name\":\"g\",\"parameters\":{\"b\":true,\"x\":[1,2.5]}}]",
       LLAMAC_TOOL_CALL_JSON,
       "[{\"name\": \"f\", \"arguments\": {}}, {\"name\": \"g\", \"arguments\": {\"b\": true, \"x\": [1, 2.5]}}]");
    OK(LLAMAC_CHAT_LLAMA3_3, "{\"name\": \"s\", \"parameters\": {\"q\": \"caf\\u00e9 \\\"x\\\"\"}}",
       LLAMAC_TOOL_CALL_JSON, "[{\"name\": \"s\", \"arguments\": {\"q\": \"caf\xC3\xA9 \\\"x\\\"\"}}]");
}

static void test_function_tags(void)
{
    OK(F31, "<function=spotify_trending_songs>{\"n\": \"5\"}</function>", LLAMAC_TOOL_CALL_FUNCTION_TAG,
       "[{\"name\": \"spotify_trending_songs\", \"arguments\": {\"n\": \"5\"}}]");
    OK(F31, "<function=a>{}</function>\n<function=b>{\"x\": 1}<|eot_id|>", LLAMAC_TOOL_CALL_FUNCTION_TAG,
       "[{\"name\": \"a\", \"arguments\": {}}, {\"name\": \"b\", \"arguments\": {\"x\": 1}}]");
}

static void test_pythonic(void)
{
    OK(F32, "[get_weather(city='San Francisco', days=3), get_time(tz=\"UTC\")]", LLAMAC_TOOL_CALL_PYTHONIC,
       "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"San Francisco\", \"days\": 3}}, "
       "{\"name\": \"get_time\", \"arguments\": {\"tz\": \"UTC\"}}]");
    OK(F32, "<|python_tag|>[get_weather(city=\"Paris\")]<|eot_id|>", LLAMAC_TOOL_CALL_PYTHONIC,
       "[{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]");
    OK(LLAMAC_CHAT_LLAMA3_3, "[ f( ) , ]", LLAMAC_TOOL_CALL_PYTHONIC, "[{\"name\": \"f\", \"arguments\": {}}]");
    OK(F31, "[f(a=1)]", LLAMAC_TOOL_CALL_PYTHONIC, "[{\"name\": \"f\", \"arguments\": {\"a\": 1}}]");
    OK(F32,
       "[f(a='it\\'s', b=\"say \\\"hi\\\"\", c=-1.5e3, d=True, e=None, f=[1, 'x', (2, 3), ()], "
       "g={'k': {\"n\": False}}, h='\\u00e9\\n\\x41\\101\\t', i=r'raw\\n', j='''tri\"ple''', k=\"con\" 'cat', "
       "l=1_000, m=(7), n=.5, o=+2, p=true, q=null, r='\\q', s='\\U0001F600')]",
       LLAMAC_TOOL_CALL_PYTHONIC,
       "[{\"name\": \"f\", \"arguments\": {\"a\": \"it's\", \"b\": \"say \\\"hi\\\"\", \"c\": -1500.0, \"d\": true, "
       "\"e\": null, \"f\": [1, \"x\", [2, 3], []], \"g\": {\"k\": {\"n\": false}}, \"h\": \"\xC3\xA9\\nAA\\t\", "
       "\"i\": \"raw\\\\n\", \"j\": \"tri\\\"ple\", \"k\": \"concat\", \"l\": 1000, \"m\": 7, \"n\": 0.5, \"o\": 2, "
       "\"p\": true, \"q\": null, \"r\": \"\\\\q\", \"s\": \"\xF0\x9F\x98\x80\"}}]");
}

static void test_builtin_and_code(void)
{
    OK(F31, "<|python_tag|>brave_search.call(query=\"latest price of 1oz gold\")<|eom_id|>", LLAMAC_TOOL_CALL_BUILTIN,
       "[{\"name\": \"brave_search\", \"arguments\": {\"query\": \"latest price of 1oz gold\"}}]");
    OK(F31, "wolfram_alpha.call(query=\"solve x^2=4\")", LLAMAC_TOOL_CALL_BUILTIN,
       "[{\"name\": \"wolfram_alpha\", \"arguments\": {\"query\": \"solve x^2=4\"}}]");
    OK(F31, "<|python_tag|>import math\nprint(math.sqrt(2))<|eom_id|>", LLAMAC_TOOL_CALL_CODE,
       "[{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"import math\\nprint(math.sqrt(2))\"}}]");
    OK(F31, "<|python_tag|>print(\"hi\")", LLAMAC_TOOL_CALL_CODE,
       "[{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"print(\\\"hi\\\")\"}}]");
    OK(F32, "<|python_tag|>[x**2 for x in range(3)]", LLAMAC_TOOL_CALL_CODE,
       "[{\"name\": \"code_interpreter\", \"arguments\": {\"code\": \"[x**2 for x in range(3)]\"}}]");
}

static void test_not_calls(void)
{
    NONE(F31, "Hello! How can I help you today?");
    NONE(F31, "");
    NONE(F31, "   \n ");
    NONE(F31, "{\"name\": \"Bob\", \"age\": 3}");
    NONE(F31, "{not json at all}");
    NONE(F32, "[1, 2, 3]");
    NONE(F32, "[Note] the answer is 4.");
    NONE(F32, "[source(1)] says the answer is 4.");
    NONE(F32, "[math.sqrt(x=1)]");
    NONE(F31, "Use brave_search.call(query=\"x\") to search.");
    NONE(F31, "print(\"no python tag, so not code\")");
    NONE(LLAMAC_CHAT_LLAMA3_0, "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}");
    NONE(LLAMAC_CHAT_LLAMA3_0, "[f(a=1)]");
    NONE(F32, "[f(a=1)");
    NONE(F32, "[ ]");
    NONE(F31, "<|python_tag|>[]<|eom_id|>");
}

static void test_malformed(void)
{
    BAD(F31, "<|python_tag|>{\"name\": \"f\", \"parameters\": {\"a\": ", "malformed JSON");
    BAD(F31, "{\"name\": \"f\", \"parameters\": {\"a\": 1,}}", "malformed JSON");
    BAD(F31, "<|python_tag|>{\"foo\": 1}", "no \"name\"");
    BAD(F31, "<|python_tag|>{\"name\": \"f\", \"parameters\": 3}", "\"parameters\" must be an object");
    BAD(F31, "<|python_tag|>{\"name\": \"f\", \"arguments\": \"{oops\"}", "does not hold a JSON object");
    BAD(F31, "<|python_tag|>", "nothing after <|python_tag|>");
    BAD(F31, "<|python_tag|> <|eom_id|>", "nothing after <|python_tag|>");
    BAD(F31, "<function=f>{\"a\": }</function>", "not a JSON object");
    BAD(F31, "<function=f>[1]", "not a JSON object");
    BAD(F31, "<function=>{}", "bad function name");
    BAD(F31, "<function=f>{} trailing", "expected '<function='");
    BAD(F32, "[f(1, 2)]", "positional argument in the call to f");
    BAD(F32, "[f(a=1, a=2)]", "repeated");
    BAD(F32, "[f(a=x)]", "not a name");
    BAD(F32, "[f(a='unterminated)]", "unterminated string");
    BAD(F32, "[f(a='line\nbreak')]", "newline inside a string");
    BAD(F32, "[f(a='\\ud800')]", "not a usable Unicode character");
    BAD(F32, "[f(a='\\x4')]", "bad \\x/\\u escape");
    BAD(F32, "[f(a={1: 2})]", "dict keys must be strings");
    BAD(F32, "[f(a=1e999)]", "bad number");
    BAD(F32, "[f(a=99999999999999999999)]", "integer out of range");
    BAD(F32, "[f(a=1) g()]", "expected ',' or ']'");
    BAD(F32, "<|python_tag|>[f(a=1)", "unterminated call list");
    BAD(F31, "brave_search.call(query=\"x\"", "expected ',' or ')'");
    BAD(F31, "brave_search.call(query=\"x\") and more", "text after the built-in tool call");
    BAD(F31, "<|python_tag|>\xff\xfe", "not valid UTF-8");
    {
        llamac_tool_calls tc0;
        char e0[128] = "";
        CHECK(llamac_chat_parse_tool_calls(F31, "<|python_tag|>a\0b", 17, &tc0, e0, sizeof e0) == LLAMAC_E_FORMAT &&
                  strstr(e0, "NUL byte"), "NUL in code: %s", e0);
    }
    char deep[600] = "[f(a=";
    for (int i = 0; i < 100; i++)
        strcat(deep, "[");
    for (int i = 0; i < 100; i++)
        strcat(deep, "]");
    strcat(deep, ")]");
    BAD(F32, deep, "nesting too deep");

    /* regression (issue 14): a long number ending in an exponent with a sign wrote one byte past the parser's
     * 128-byte buffer; every length around the buffer size must be refused or parsed, never overflow (ASan) */
    for (int digits = 100; digits <= 140; digits++) {
        char num[400];
        snprintf(num, sizeof num, "[f(a=");
        for (int i = 0; i < digits; i++)
            strcat(num, "1");
        strcat(num, "e-5)]");
        llamac_tool_calls tn;
        char en[128] = "";
        llamac_status sn = llamac_chat_parse_tool_calls(F32, num, strlen(num), &tn, en, sizeof en);
        if (digits + 3 < 126) /* the number's characters fit the parser's limit: a valid float */
            CHECK(sn == LLAMAC_OK && tn.n_calls == 1, "%d digits + e-5: status %d '%s'", digits, sn, en);
        else
            CHECK(sn == LLAMAC_E_FORMAT && strstr(en, "number too long"), "%d digits + e-5: status %d '%s'", digits,
                  sn, en);
        free(tn.json);
    }

    llamac_tool_calls tc;
    char err[128];
    CHECK(llamac_chat_parse_tool_calls(F31, NULL, 3, &tc, err, sizeof err) == LLAMAC_E_INVALID_ARG, "NULL text");
    CHECK(llamac_chat_parse_tool_calls(F31, "x", 1, NULL, err, sizeof err) == LLAMAC_E_INVALID_ARG, "NULL out");
    CHECK(llamac_chat_parse_tool_calls(LLAMAC_CHAT_UNKNOWN, "x", 1, &tc, err, sizeof err) == LLAMAC_E_INVALID_ARG,
          "unknown format");
    CHECK(llamac_chat_parse_tool_calls(F31, NULL, 0, &tc, NULL, 0) == LLAMAC_OK && tc.kind == 0, "empty NULL text");
    /* the length is honoured: a call followed by garbage outside len parses */
    const char *t = "[f(a=1)]GARBAGE";
    CHECK(llamac_chat_parse_tool_calls(F32, t, 8, &tc, err, sizeof err) == LLAMAC_OK && tc.n_calls == 1, "len");
    free(tc.json);
}

/* ---- (d) mutation fuzz ---- */
/* check.h's xorshift64 from its default seed; the fuzz takes bits 11..42 of the state */
static uint32_t fuzz_rnd(void) { return (uint32_t)(rnd64() >> 11); }

static void test_fuzz(void)
{
    static const char *corpus[] = {
        "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Paris\", \"n\": [1, 2.5e3]}}<|eom_id|>",
        "<function=a>{\"x\": {\"y\": [true, null]}}</function><function=b>{}</function>",
        "[get_weather(city='San Francisco', days=3), f(a=[1, (2, 3)], b={'k': \"v\\n\"}, c=r'''x''')]",
        "<|python_tag|>brave_search.call(query=\"gold\")<|eom_id|>",
        "[{\"name\":\"f\",\"parameters\":{}},{\"type\":\"function\",\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]",
    };
    const char alphabet[] = "[](){}'\"\\=,.:_ aZ09\n<|>eE-+";
    char buf[512];
    int n_ok = 0, n_err = 0;
    for (int it = 0; it < 40000; it++) {
        const char *src = corpus[fuzz_rnd() % (sizeof corpus / sizeof corpus[0])];
        size_t n = strlen(src);
        memcpy(buf, src, n);
        int muts = 1 + (int)(fuzz_rnd() % 4);
        for (int m = 0; m < muts; m++) {
            uint32_t r = fuzz_rnd();
            size_t pos = n ? r % n : 0;
            switch ((r >> 16) % 4) {
            case 0: n = pos; break;                                                         /* truncate */
            case 1: if (n) buf[pos] = alphabet[fuzz_rnd() % (sizeof alphabet - 1)]; break;   /* replace */
            case 2: if (n) buf[pos] = (char)(fuzz_rnd() & 0xFF); break;                      /* any byte */
            default: /* insert */
                if (n + 1 < sizeof buf) {
                    memmove(buf + pos + 1, buf + pos, n - pos);
                    buf[pos] = alphabet[fuzz_rnd() % (sizeof alphabet - 1)];
                    n++;
                }
            }
        }
        /* the buffer is not NUL-terminated at n: the parser must respect len */
        char *copy = malloc(n ? n : 1);
        memcpy(copy, buf, n);
        llamac_tool_calls tc;
        char err[256];
        llamac_status st = llamac_chat_parse_tool_calls((it & 1) ? F31 : F32, copy, n, &tc, err, sizeof err);
        if (st == LLAMAC_OK && tc.n_calls > 0) {
            n_ok++;
            json_error_t je;
            json_t *v = json_loads(tc.json, 0, &je);
            int good = json_is_array(v) && (int)json_array_size(v) == tc.n_calls;
            for (size_t i = 0; good && i < json_array_size(v); i++) {
                json_t *c = json_array_get(v, i);
                good = json_is_string(json_object_get(c, "name")) && json_is_object(json_object_get(c, "arguments"));
            }
            if (!good) {
                CHECK(0, "fuzz: bad result JSON %s", tc.json);
                break;
            }
            json_decref(v);
        } else if (st == LLAMAC_E_FORMAT) {
            n_err++;
            CHECK(err[0] && !tc.json, "fuzz: error without message");
        } else {
            CHECK(st == LLAMAC_OK && !tc.json, "fuzz: status %d", st);
        }
        free(tc.json);
        free(copy);
    }
    CHECK(n_ok > 1000 && n_err > 1000, "fuzz coverage: %d parsed, %d errors", n_ok, n_err);
}

int main(void)
{
    test_json_calls();
    test_function_tags();
    test_pythonic();
    test_builtin_and_code();
    test_not_calls();
    test_malformed();
    test_fuzz();
    return check_finish("test_chat_toolcall");
}
