/*
 * test_chat_export.c — reading a conversation back (src/chat/export.c) and its change mark:
 *   - role / content / tool-call count getters, NULL-safe and bounds-checked;
 *   - a message as OpenAI JSON: text, null content with tool_calls (ids kept, arguments as a JSON string written
 *     like Python's json.dumps), tool results as JSON objects with their tool_call_id;
 *   - llamac_chat_remove: range checks, later messages move down, tools kept;
 *   - llamac_chat_dump_json -> llamac_chat_load_json gives the same conversation (same dump, same rendering);
 *   - the "lowest changed message" mark a session reads (add, truncate, remove, tools, load).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat/chat_internal.h"
#include "check.h"
#include "llamac.h"

static const char *TOOLS = "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"parameters\":"
                           "{\"type\":\"object\",\"properties\":{\"temp\":{\"type\":\"number\",\"default\":0.1}}}}}]";

static char *rendered(llamac_chat *c)
{
    llamac_chat_params cp = llamac_chat_default_params(LLAMAC_CHAT_LLAMA3_1);
    cp.date = "26 Jul 2024";
    llamac_chat_prompt *p = NULL;
    if (llamac_chat_render(c, &cp, 0, &p) != LLAMAC_OK)
        return NULL;
    char *s = strdup(llamac_chat_prompt_text(p, NULL));
    llamac_chat_prompt_free(p);
    return s;
}

static void add_json(llamac_chat *c, const char *j)
{
    CHECK(llamac_chat_add_message_json(c, j, strlen(j)) == LLAMAC_OK, "add %s: %s", j, llamac_chat_error(c));
}

int main(void)
{
    llamac_chat *c = NULL;
    llamac_chat_create(&c);
    llamac_chat_add_message(c, "system", "Be brief.");
    add_json(c, "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather\"},"
                "{\"type\":\"text\",\"text\":\"in Paris?\"}]}");
    add_json(c, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_7\",\"type\":\"function\","
                "\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"temp\\\": 0.1, \\\"city\\\": \\\"Paris\\\"}\"}}]}");
    add_json(c, "{\"role\":\"tool\",\"tool_call_id\":\"call_7\",\"content\":{\"temp\":21.5}}");
    llamac_chat_add_message(c, "assistant", "It is 21.5 \xc2\xb0" "C.");
    CHECK(llamac_chat_set_tools_json(c, TOOLS, strlen(TOOLS)) == LLAMAC_OK, "tools");

    /* getters */
    size_t len = 99;
    CHECK(llamac_chat_n_messages(c) == 5, "5 messages");
    CHECK(!strcmp(llamac_chat_message_role(c, 0), "system") && !strcmp(llamac_chat_message_role(c, 3), "tool"),
          "roles");
    CHECK(!strcmp(llamac_chat_message_content(c, 1, &len), "Weather\nin Paris?") && len == 17, "text parts joined");
    CHECK(!strcmp(llamac_chat_message_content(c, 2, &len), "") && len == 0, "a call has no text");
    CHECK(!strcmp(llamac_chat_message_content(c, 3, &len), "") && len == 0, "a JSON result has no text");
    CHECK(llamac_chat_message_n_tool_calls(c, 2) == 1 && llamac_chat_message_n_tool_calls(c, 1) == 0, "calls");
    CHECK(!llamac_chat_message_role(c, 5) && !llamac_chat_message_role(c, -1) && !llamac_chat_message_role(NULL, 0),
          "role out of range");
    CHECK(!llamac_chat_message_content(c, 9, &len) && len == 0 && !llamac_chat_message_content(NULL, 0, NULL),
          "content out of range");
    CHECK(llamac_chat_message_n_tool_calls(NULL, 0) == 0 && llamac_chat_n_messages(NULL) == 0, "NULL chat");

    /* messages as JSON */
    char *j = NULL;
    CHECK(llamac_chat_message_json(c, 1, &j) == LLAMAC_OK && j &&
              !strcmp(j, "{\"role\":\"user\",\"content\":\"Weather\\nin Paris?\"}"),
          "user json: %s", j ? j : "");
    free(j);
    CHECK(llamac_chat_message_json(c, 2, &j) == LLAMAC_OK && j &&
              !strcmp(j, "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_7\",\"type\":"
                         "\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":"
                         "\"{\\\"temp\\\": 0.1, \\\"city\\\": \\\"Paris\\\"}\"}}]}"),
          "call json: %s", j ? j : "");
    free(j);
    CHECK(llamac_chat_message_json(c, 3, &j) == LLAMAC_OK && j && strstr(j, "\"content\":{\"temp\":21.5}") &&
              strstr(j, "\"tool_call_id\":\"call_7\""),
          "tool json: %s", j ? j : "");
    free(j);
    CHECK(llamac_chat_message_json(c, 5, &j) == LLAMAC_E_INVALID_ARG && !j, "json out of range");
    CHECK(llamac_chat_message_json(NULL, 0, &j) == LLAMAC_E_INVALID_ARG && !j, "json of NULL");
    CHECK(llamac_chat_tools_json(c, &j) == LLAMAC_OK && j && strstr(j, "get_weather") && j[0] == '[', "tools json");
    free(j);

    /* dump and load back */
    char *dump = NULL, *dump2 = NULL, *r1 = rendered(c);
    CHECK(llamac_chat_dump_json(c, &dump) == LLAMAC_OK && dump && strstr(dump, "\"tools\":[") &&
              !strstr(dump, "builtin_tools"),
          "dump: %s", dump ? dump : "");
    llamac_chat *c2 = NULL;
    llamac_chat_create(&c2);
    CHECK(llamac_chat_load_json(c2, dump, strlen(dump)) == LLAMAC_OK, "load the dump: %s", llamac_chat_error(c2));
    char *r2 = rendered(c2);
    CHECK(llamac_chat_dump_json(c2, &dump2) == LLAMAC_OK && !strcmp(dump, dump2), "dump, load, dump is stable");
    CHECK(r1 && r2 && !strcmp(r1, r2), "the loaded conversation renders the same");
    free(dump2);
    const char *const builtin[] = {"brave_search"};
    llamac_chat_set_builtin_tools(c2, builtin, 1);
    llamac_chat_set_tools_json(c2, NULL, 0);
    CHECK(llamac_chat_tools_json(c2, &j) == LLAMAC_OK && !j, "no tools: NULL");
    CHECK(llamac_chat_dump_json(c2, &dump2) == LLAMAC_OK && strstr(dump2, "\"builtin_tools\":[\"brave_search\"]") &&
              !strstr(dump2, "\"tools\""),
          "builtin tools in the dump: %s", dump2);
    free(dump2);
    free(dump);
    free(r1);
    free(r2);
    llamac_chat *empty = NULL;
    llamac_chat_create(&empty);
    CHECK(llamac_chat_dump_json(empty, &dump) == LLAMAC_OK && !strcmp(dump, "{\"messages\":[]}"), "empty dump");
    free(dump);
    CHECK(llamac_chat_dump_json(NULL, &dump) == LLAMAC_E_INVALID_ARG && !dump, "dump of NULL");

    /* remove and the change mark */
    lc_chat_clear_dirty(c);
    CHECK(lc_chat_dirty_from(c) == INT_MAX, "clean");
    CHECK(llamac_chat_remove(c, 1, 5) == LLAMAC_E_INVALID_ARG && llamac_chat_remove(c, -1, 1) == LLAMAC_E_INVALID_ARG &&
              llamac_chat_remove(c, 6, 0) == LLAMAC_E_INVALID_ARG && llamac_chat_remove(NULL, 0, 0) != LLAMAC_OK &&
              strstr(llamac_chat_error(c), "remove"),
          "remove: bad ranges");
    CHECK(llamac_chat_remove(c, 5, 0) == LLAMAC_OK && lc_chat_dirty_from(c) == INT_MAX, "removing nothing");
    CHECK(llamac_chat_remove(c, 1, 3) == LLAMAC_OK && llamac_chat_n_messages(c) == 2 &&
              !strcmp(llamac_chat_message_role(c, 1), "assistant") && lc_chat_dirty_from(c) == 1,
          "remove 1..3");
    CHECK(llamac_chat_tools_json(c, &j) == LLAMAC_OK && j, "tools kept");
    free(j);
    lc_chat_clear_dirty(c);
    llamac_chat_add_message(c, "user", "Thanks");
    CHECK(lc_chat_dirty_from(c) == 2, "add marks its index");
    llamac_chat_truncate(c, 1);
    CHECK(lc_chat_dirty_from(c) == 1, "truncate marks the first removed");
    lc_chat_clear_dirty(c);
    llamac_chat_truncate(c, 1);
    CHECK(lc_chat_dirty_from(c) == INT_MAX, "truncating nothing marks nothing");
    CHECK(llamac_chat_add_message(c, "robot", "x") != LLAMAC_OK && lc_chat_dirty_from(c) == INT_MAX,
          "a refused message marks nothing");
    llamac_chat_set_tools_json(c, NULL, 0);
    CHECK(lc_chat_dirty_from(c) == 0, "tools mark message 0");
    lc_chat_clear_dirty(c);
    llamac_chat_set_builtin_tools(c, builtin, 1);
    CHECK(lc_chat_dirty_from(c) == 0, "built-in tools mark message 0");
    lc_chat_clear_dirty(c);
    const char *doc = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    llamac_chat_load_json(c, doc, strlen(doc));
    CHECK(lc_chat_dirty_from(c) == 0 && llamac_chat_n_messages(c) == 1, "load marks message 0");

    llamac_chat_free(c);
    llamac_chat_free(c2);
    llamac_chat_free(empty);
    return check_finish("test_chat_export");
}
