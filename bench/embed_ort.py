"""ONNX Runtime (PyPI `onnxruntime`) on the same model.onnx and the same token ids as
vecgate-embed's benchmark. Used by bench/embed.sh.

  latency:    p50 per query, one thread, for each text of the ids file;
  throughput: texts/s over the film texts on every core, batches of 32 length-sorted texts padded
              to their longest (ONNX Runtime needs rectangular inputs; sorting keeps the padding
              small), and the RSS the loaded model adds to this process."""
import json
import os
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def feed_of(rows):
    width = max(len(r) for r in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


mode, model_path, ids_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(ids_path) as f:
    ids = json.load(f)
options = ort.SessionOptions()
threads = 1 if mode == "latency" else os.cpu_count()
options.intra_op_num_threads = threads
options.inter_op_num_threads = 1
before = rss_mb()
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])

if mode == "latency":
    for name in ("short", "medium"):
        feed = feed_of([ids[name]])
        for _ in range(20):
            session.run(None, feed)
        times = []
        for _ in range(300):
            t = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - t) * 1e3)
        tokens = len(ids[name])
        print(f"onnxruntime {ort.__version__} {name} ({tokens} tokens): p50 {statistics.median(times):.3f} ms")
else:
    session.run(None, feed_of([ids["short"]]))
    loaded = rss_mb()
    films = sorted(ids["films"], key=len)
    start = time.perf_counter()
    for i in range(0, len(films), 32):
        session.run(None, feed_of(films[i : i + 32]))
    secs = time.perf_counter() - start
    print(f"onnxruntime {ort.__version__} batch throughput: {len(films)} texts in {secs:.1f} s = "
          f"{len(films) / secs:.0f} texts/s ({threads} threads)")
    print(f"onnxruntime model RSS: +{loaded - before:.1f} MB after load and one query")
