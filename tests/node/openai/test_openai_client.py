"""test_openai_client.py — the official `openai` npm client (pinned in tests/node/openai/package.json, installed
into $LLAMAC_BUILD/openai-node by setup.sh) against live `llamac serve` processes.

Starts two servers (tests/py/serve_util.py): the "talk" chain model behind an API key and the "tool" chain model,
copies test_openai.mjs next to the installed client (node resolves `import "openai"` from the script's directory)
and runs it; every check is in the .mjs (chat, streaming, include_usage, tool call and follow-up, stop, length,
n, logprobs, models, an aborted stream freeing its sequence, typed 401 and 400 errors). LLAMAC_OPENAI_ONLY="a b"
runs only those checks of the .mjs.
"""
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "py"))
from llamac_testlib import BUILD, check, main  # noqa: E402
from serve_util import Server, talk_model, tool_model  # noqa: E402

NODE_DIR = os.path.join(BUILD, "openai-node")
KEY = "sk-llamac-test"


def test_openai_node_client():
    check(os.path.isdir(os.path.join(NODE_DIR, "node_modules", "openai")),
          f"the openai client is not installed in {NODE_DIR}: run tests/node/openai/setup.sh (ctest does)")
    script = os.path.join(NODE_DIR, "test_openai.mjs")
    shutil.copyfile(os.path.join(HERE, "test_openai.mjs"), script)
    with Server(talk_model(), "--ctx", 4096, "--parallel", 4, api_key=KEY) as talk, \
            Server(tool_model(), "--ctx", 512, "--parallel", 2) as tool:
        env = dict(os.environ, TALK_URL=talk.base_url, TOOL_URL=tool.base_url, API_KEY=KEY)
        try:
            r = subprocess.run(["node", script] + os.environ.get("LLAMAC_OPENAI_ONLY", "").split(),
                               cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise AssertionError("test_openai.mjs did not finish in 900 s")
        print(r.stdout, end="")
        check(r.returncode == 0, f"test_openai.mjs failed (exit {r.returncode}):\n{r.stdout[-4000:]}\n"
                                 f"{r.stderr[-3000:]}\ntalk server log:\n{talk.log()[-2000:]}")


if __name__ == "__main__":
    main(globals())
