#!/usr/bin/python3
"""Writes the tiny ONNX models the ML tests run through OpenCV's DNN module.

   make_onnx_models.py OUTDIR

rotate_channels.onnx: a 1x1 convolution whose output red is the input green,
green the input blue and blue the input red, on 1x3xHxW float input of any
size. Pure red in gives pure blue out, which also proves the worker feeds
RGB (not BGR) in 0..1. Uses Debian's python3-onnx (the test runs
/usr/bin/python3: other Pythons may lack it)."""
import os
import sys

import onnx
from onnx import TensorProto, helper

out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)

# weight[o][i] = 1 where output channel o takes input channel i.
rotation = [[0, 1, 0],
            [0, 0, 1],
            [1, 0, 0]]
weights = helper.make_tensor("W", TensorProto.FLOAT, [3, 3, 1, 1],
                             [float(v) for row in rotation for v in row])
bias = helper.make_tensor("B", TensorProto.FLOAT, [3], [0.0, 0.0, 0.0])
conv = helper.make_node("Conv", ["input", "W", "B"], ["output"], kernel_shape=[1, 1])
graph = helper.make_graph(
    [conv], "rotate_channels",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "height", "width"])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, "height", "width"])],
    initializer=[weights, bias])
model = helper.make_model(graph, producer_name="ooblex-tests",
                          opset_imports=[helper.make_opsetid("", 11)])
model.ir_version = 7
onnx.checker.check_model(model)
onnx.save(model, os.path.join(out_dir, "rotate_channels.onnx"))
print("wrote", os.path.join(out_dir, "rotate_channels.onnx"))
