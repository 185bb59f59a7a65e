"""make_heldout.py — writes models/kjv-heldout.txt: chapters of the King James Bible that models/train_tiny.py
held out of the bundled model's language-model training (every 50th chapter, its validation set), as the
text for `llamac perplexity` (bench/ppl_table.sh).

    apt-get install -y bible-kjv-text
    /usr/bin/python3 models/make_heldout.py [--max-bytes 40000]

The chapters are rendered exactly as train_tiny.py renders its documents ("Book C\\n\\n" + one verse per line)
and separated by a blank line, in canonical order, whole chapters only until --max-bytes would be exceeded.
Caveat: train_tiny.py's synthetic chat conversations quote verses from the whole Bible, so a few verses of
these chapters may have been seen in the (short) chat phase; the language-model phase never saw them.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_tiny  # noqa: E402  (importing trains nothing)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--max-bytes", type=int, default=40000)
    ap.add_argument("--out", default=os.path.join(HERE, "kjv-heldout.txt"))
    args = ap.parse_args()
    every = train_tiny.CFG["val_every"]
    docs = [train_tiny.chapter_document(b, c, t) for b, c, t in train_tiny.chapters_of(train_tiny.read_kjv())]
    held = [d for i, d in enumerate(docs) if i % every == every - 1]
    out, size = [], 0
    for d in held:
        if size + len(d) + 2 > args.max_bytes:
            break
        out.append(d)
        size += len(d) + 2
    with open(args.out, "w", encoding="ascii") as f:
        f.write("\n\n".join(out) + "\n")
    print(f"{args.out}: {len(out)} of {len(held)} held-out chapters, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
