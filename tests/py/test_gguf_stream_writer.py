"""test_gguf_stream_writer.py — python/gguf_writer.py's GGUFStreamWriter (used by bench/make_models.py for
multi-GB models) writes exactly the bytes GGUFWriter writes for the same tensors, whatever the chunking, and
refuses out-of-order, oversized or incomplete data without leaving a file behind."""
import os
import shutil

import numpy as np

from llamac_testlib import check, main, scratch_dir
import gguf_writer as gw


def _tensors():
    rng = np.random.default_rng(5)
    return [("a.weight", rng.standard_normal((7, 64), dtype=np.float32), "F16"),
            ("b.weight", rng.standard_normal((5,), dtype=np.float32), "F32"),       # 20 bytes: padding follows
            ("c.weight", rng.standard_normal((9, 96), dtype=np.float32), "Q8_0"),
            ("d.weight", rng.standard_normal((3, 32), dtype=np.float32), "Q4_0")]


def _writers(alignment):
    ref, st = gw.GGUFWriter(alignment=alignment), gw.GGUFStreamWriter(alignment=alignment)
    for w in (ref, st):
        w.add("general.architecture", "llama")
        w.add("llama.block_count", 1, gw.UINT32)
    for name, x, t in _tensors():
        ref.add_tensor(name, x, t)
        st.declare_tensor(name, x.shape, t)
    return ref, st


def test_same_bytes_any_chunking():
    d = scratch_dir()
    try:
        for alignment in (32, 64):
            ref, st = _writers(alignment)
            expect = ref.to_bytes()
            for chunk_rows in (1, 2, 100):
                path = os.path.join(d, f"m{alignment}-{chunk_rows}.gguf")
                with st.open(path) as out:
                    for name, x, t in _tensors():
                        if x.ndim == 1:
                            out.write(name, x)
                        else:
                            for r in range(0, x.shape[0], chunk_rows):
                                out.write(name, x[r:r + chunk_rows])
                with open(path, "rb") as f:
                    got = f.read()
                check(got == expect, f"alignment {alignment}, chunks of {chunk_rows} rows: "
                                     f"{len(got)} bytes differ from GGUFWriter's {len(expect)}")
            check(not [f for f in os.listdir(d) if f.endswith(".tmp")], "temporary files left behind")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def _expect_error(fn, what):
    try:
        fn()
    except (ValueError, TypeError):
        return
    raise AssertionError(f"no error for {what}")


def test_refuses_bad_streams():
    d = scratch_dir()
    try:
        path = os.path.join(d, "bad.gguf")
        ts = _tensors()

        def out_of_order():
            _, st = _writers(32)
            with st.open(path) as out:
                out.write(ts[1][0], ts[1][1])

        def too_much():
            _, st = _writers(32)
            with st.open(path) as out:
                out.write(ts[0][0], ts[0][1])
                out.write(ts[0][0], ts[0][1][:1])

        def incomplete():
            _, st = _writers(32)
            with st.open(path) as out:
                out.write(ts[0][0], ts[0][1])

        def switch_mid_tensor():
            _, st = _writers(32)
            with st.open(path) as out:
                out.write(ts[0][0], ts[0][1][:3])
                out.write(ts[1][0], ts[1][1])

        def whole_file_api():
            _, st = _writers(32)
            st.write(path)

        for fn, what in ((out_of_order, "data out of declaration order"), (too_much, "more data than declared"),
                         (incomplete, "missing tensors"), (switch_mid_tensor, "switching tensors mid-way"),
                         (whole_file_api, "GGUFWriter.write on a stream writer")):
            _expect_error(fn, what)
            check(not os.path.exists(path), f"{what}: a file was left at the destination")
            check(not [f for f in os.listdir(d) if f.endswith(".tmp")], f"{what}: temporary file left behind")
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main(globals())
