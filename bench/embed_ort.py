"""ONNX Runtime (PyPI `onnxruntime`) on the same model.onnx and the same token ids as
vecgate-embed's benchmark: p50 per query, one thread. Used by bench/embed.sh."""
import json
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

model_path, ids_json = sys.argv[1], sys.argv[2]
options = ort.SessionOptions()
options.intra_op_num_threads = 1
options.inter_op_num_threads = 1
session = ort.InferenceSession(model_path, options, providers=["CPUExecutionProvider"])
for name, ids in json.loads(ids_json).items():
    ids = np.array([ids], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    for _ in range(20):
        session.run(None, feed)
    times = []
    for _ in range(300):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1e3)
    print(f"onnxruntime {ort.__version__} {name} ({ids.shape[1]} tokens): p50 {statistics.median(times):.3f} ms")
