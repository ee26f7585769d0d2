"""Convert MediaPipe's face mesh (face_landmark.tflite, Apache-2.0) to ONNX for onnxruntime, once.

Run in a scratch venv, not the project's (the `tflite` flatbuffer reader is only needed here):

    python -m venv /tmp/conv && . /tmp/conv/bin/activate
    pip install tflite onnx onnxruntime numpy ai-edge-litert
    pip download mediapipe==0.10.21 --no-deps -d /tmp/mp
    unzip -j /tmp/mp/mediapipe-0.10.21-*.whl mediapipe/modules/face_landmark/face_landmark.tflite -d /tmp/mp
    unzip -j /tmp/mp/mediapipe-0.10.21-*.whl mediapipe/python/solutions/face_mesh_connections.py -d /tmp/mp
    pip install pillow scikit-image   # for the astronaut photo, a frontal face
    python tools/convert_face_mesh.py /tmp/mp core/faces/models \
        "$(python -c 'import skimage, os; print(os.path.dirname(skimage.__file__))')/data/astronaut.png"

It writes face_mesh.onnx and face_mesh_topology.npz (the mesh's 854 triangles, recovered as the 3-cliques of
MediaPipe's tessellation edges, the ordered outlines of the face oval, lips, eyes and brows, and each
point's mirror image, found by meshing a left-right symmetric face made from a frontal photo).

The model uses seven ops (DEQUANTIZE of float16 weights, CONV_2D, DEPTHWISE_CONV_2D, PRELU, ADD, MAX_POOL_2D,
PAD). The ONNX graph keeps the input layout (1, 192, 192, 3) RGB in 0..1 and works in NCHW inside; weights stay
float16 with a Cast so the file stays about the .tflite's size. With ai-edge-litert installed the script
checks the ONNX output against the TFLite interpreter on random and smooth inputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
NUMPY_TYPES = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
               tflite.TensorType.INT32: np.int32}


def convert(tflite_path: Path) -> onnx.ModelProto:
    buf = tflite_path.read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)

    def tensor(index: int) -> tflite.Tensor:
        return graph.Tensors(index)

    def name(index: int) -> str:
        return tensor(index).Name().decode()

    def shape(index: int) -> list[int]:
        return [int(v) for v in tensor(index).ShapeAsNumpy()]

    def data(index: int) -> np.ndarray:
        t = tensor(index)
        raw = model.Buffers(t.Buffer()).DataAsNumpy()
        return np.frombuffer(raw.tobytes(), dtype=NUMPY_TYPES[t.Type()]).reshape(shape(index))

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    consts: dict[str, np.ndarray] = {}  # dequantized weights, in tflite layout, by tensor name

    def activation(out: str, fused: int) -> None:
        if fused == tflite.ActivationFunctionType.NONE:
            return
        if fused != tflite.ActivationFunctionType.RELU:
            raise NotImplementedError(f"fused activation {fused}")
        nodes.append(helper.make_node("Relu", [out + "_pre"], [out]))

    def weight(label: str, array: np.ndarray) -> str:
        """A float16 initializer cast to float32 (onnxruntime folds the cast when the session loads)."""
        inits.append(numpy_helper.from_array(array.astype(np.float16), label + "_f16"))
        nodes.append(helper.make_node("Cast", [label + "_f16"], [label], to=TensorProto.FLOAT))
        return label

    def conv_pads(in_hw: list[int], kernel: list[int], strides: list[int], padding: int) -> list[int]:
        if padding == tflite.Padding.VALID:
            return [0, 0, 0, 0]
        pads = []
        for size, k, s in zip(in_hw, kernel, strides, strict=True):
            out = -(-size // s)
            pads.append(max(0, (out - 1) * s + k - size))
        # TF SAME puts the odd pixel at the end
        return [pads[0] // 2, pads[1] // 2, pads[0] - pads[0] // 2, pads[1] - pads[1] // 2]

    inputs = list(graph.InputsAsNumpy())
    outputs = list(graph.OutputsAsNumpy())
    (input_index,) = inputs
    nodes.append(helper.make_node("Transpose", ["input"], [name(input_index)], perm=[0, 3, 1, 2]))

    for j in range(graph.OperatorsLength()):
        op = graph.Operators(j)
        code = model.OperatorCodes(op.OpcodeIndex())
        kind = OPS[max(code.BuiltinCode(), code.DeprecatedBuiltinCode())]
        ins, outs = list(op.InputsAsNumpy()), list(op.OutputsAsNumpy())
        out = name(outs[0])
        options = op.BuiltinOptions()
        if kind == "DEQUANTIZE":
            consts[out] = data(ins[0]).astype(np.float32)
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            opt = (tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)()
            opt.Init(options.Bytes, options.Pos)
            kernel = consts[name(ins[1])]  # conv: (O, H, W, I); depthwise: (1, H, W, C)
            if kind == "CONV_2D":
                w = kernel.transpose(0, 3, 1, 2)
                group = 1
            else:
                w = kernel.transpose(3, 0, 1, 2)
                group = int(shape(ins[0])[3])
            strides = [opt.StrideH(), opt.StrideW()]
            pads = conv_pads(shape(ins[0])[1:3], list(w.shape[2:]), strides, opt.Padding())
            fused = opt.FusedActivationFunction()
            target = out + "_pre" if fused else out
            nodes.append(helper.make_node(
                "Conv", [name(ins[0]), weight(out + "_w", w), weight(out + "_b", consts[name(ins[2])])], [target],
                strides=strides, pads=pads, group=group, kernel_shape=list(w.shape[2:]),
                dilations=[opt.DilationHFactor(), opt.DilationWFactor()],
            ))
            activation(out, fused)
        elif kind == "PRELU":
            alpha = consts[name(ins[1])]  # (1, 1, C) or (H, W, C)
            slope = alpha.transpose(2, 0, 1)
            nodes.append(helper.make_node("PRelu", [name(ins[0]), weight(out + "_alpha", slope)], [out]))
        elif kind == "ADD":
            opt = tflite.AddOptions()
            opt.Init(options.Bytes, options.Pos)
            fused = opt.FusedActivationFunction()
            nodes.append(helper.make_node("Add", [name(ins[0]), name(ins[1])], [out + "_pre" if fused else out]))
            activation(out, fused)
        elif kind == "MAX_POOL_2D":
            opt = tflite.Pool2DOptions()
            opt.Init(options.Bytes, options.Pos)
            kernel, strides = [opt.FilterHeight(), opt.FilterWidth()], [opt.StrideH(), opt.StrideW()]
            pads = conv_pads(shape(ins[0])[1:3], kernel, strides, opt.Padding())
            nodes.append(helper.make_node("MaxPool", [name(ins[0])], [out], kernel_shape=kernel, strides=strides,
                                          pads=pads))
        elif kind == "PAD":
            paddings = data(ins[1]).astype(np.int64)  # (4, 2) in NHWC order
            nchw = paddings[[0, 3, 1, 2]]
            label = out + "_pads"
            inits.append(numpy_helper.from_array(np.concatenate([nchw[:, 0], nchw[:, 1]]), label))
            nodes.append(helper.make_node("Pad", [name(ins[0]), label], [out], mode="constant"))
        else:
            raise NotImplementedError(kind)

    graph_outputs = []
    for index, label in zip(outputs, ("landmarks", "face_flag"), strict=True):
        width = int(np.prod(shape(index)))
        reshape = label + "_shape"
        inits.append(numpy_helper.from_array(np.array([1, width], np.int64), reshape))
        nodes.append(helper.make_node("Reshape", [name(index), reshape], [label]))
        graph_outputs.append(helper.make_tensor_value_info(label, TensorProto.FLOAT, [1, width]))
    onnx_graph = helper.make_graph(
        nodes, "face_mesh",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape(input_index))],
        graph_outputs, inits,
    )
    result = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 13)],
                               producer_name="fffusion tools/convert_face_mesh.py")
    result.ir_version = 8
    result.doc_string = ("MediaPipe face_landmark.tflite (mediapipe 0.10.21, Apache-2.0), converted to ONNX. "
                         "Input: (1, 192, 192, 3) RGB 0..1. Outputs: landmarks (1, 1404) = 468 x (x, y, z) in "
                         "input pixels; face_flag (1, 1) logit.")
    onnx.checker.check_model(result)
    return result


def check(tflite_path: Path, onnx_path: Path) -> None:
    """Largest difference between the TFLite interpreter and onnxruntime, on random and smooth inputs."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        print("ai-edge-litert not installed: numerical check skipped")
        return
    import onnxruntime as ort

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    (tin,) = interpreter.get_input_details()
    touts = interpreter.get_output_details()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:192, 0:192] / 192.0
    smooth = np.stack([0.5 + 0.3 * np.sin(3 * xs), 0.4 + 0.2 * np.cos(2 * ys), 0.3 + 0.1 * xs * ys], axis=-1)
    for label, sample in (("random", rng.random((1, 192, 192, 3))), ("smooth", smooth[None])):
        sample = sample.astype(np.float32)
        interpreter.set_tensor(tin["index"], sample)
        interpreter.invoke()
        expected = [interpreter.get_tensor(d["index"]).reshape(1, -1) for d in touts]
        got = session.run(None, {"input": sample})
        for e, g in zip(expected, got, strict=True):
            print(f"{label}: output {g.shape}, max |onnx - tflite| = {np.abs(e - g).max():.2e} "
                  f"(values up to {np.abs(e).max():.1f})")


def _loop(edges: frozenset[tuple[int, int]]) -> np.ndarray:
    """The points of a closed outline in order, from its unordered edges."""
    neighbours: dict[int, list[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    start = min(neighbours)
    order, previous = [start], None
    while True:
        current = order[-1]
        following = next(n for n in neighbours[current] if n != previous)
        if following == start:
            break
        order.append(following)
        previous = current
    if len(order) != len(neighbours):
        raise ValueError("not a single closed outline")
    return np.array(order, np.int32)


def _components(edges: frozenset[tuple[int, int]]) -> list[frozenset[tuple[int, int]]]:
    """Edge sets of the connected parts."""
    parts: list[tuple[set[int], set[tuple[int, int]]]] = []
    for edge in sorted(edges):
        touching = [p for p in parts if p[0] & set(edge)]
        merged = (set(edge), {edge})
        for points, members in touching:
            merged[0].update(points)
            merged[1].update(members)
            parts.remove((points, members))
        parts.append(merged)
    return [frozenset(members) for _, members in parts]


def topology(connections_py: Path) -> dict[str, np.ndarray]:
    namespace: dict[str, object] = {}
    exec(compile(connections_py.read_text(), str(connections_py), "exec"), namespace)
    edges = namespace["FACEMESH_TESSELATION"]
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = sorted({tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[a] & neighbours[b]})
    # the lips are two separate rings: the outer one holds the mouth corners 61 and 291
    outer, inner = sorted(_components(namespace["FACEMESH_LIPS"]),
                          key=lambda part: 61 not in {p for e in part for p in e})
    return {
        "triangles": np.array(triangles, np.int32),
        "face_oval": _loop(namespace["FACEMESH_FACE_OVAL"]),
        "outer_lips": _loop(outer),
        "inner_lips": _loop(inner),
        # MediaPipe names eyes from the subject's side: its LEFT_EYE is on the image's right
        "image_left_eye": _loop(namespace["FACEMESH_RIGHT_EYE"]),
        "image_right_eye": _loop(namespace["FACEMESH_LEFT_EYE"]),
        "image_left_brow": np.array(sorted({p for e in namespace["FACEMESH_RIGHT_EYEBROW"] for p in e}), np.int32),
        "image_right_brow": np.array(sorted({p for e in namespace["FACEMESH_LEFT_EYEBROW"] for p in e}), np.int32),
    }


def frontal_mesh(onnx_path: Path, frontal: Path) -> np.ndarray:
    """The mesh (468, 3) of a face made exactly symmetric: a frontal photo averaged with its mirror."""
    import onnxruntime as ort
    from PIL import Image

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with Image.open(frontal) as image:
        rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    side = min(rgb.shape[:2])
    square = rgb[:side, (rgb.shape[1] - side) // 2:][:, :side]
    points = None
    for _ in range(3):  # whole image first, then the square around the found face, twice
        if points is not None:
            centre = (points[:, :2].min(axis=0) + points[:, :2].max(axis=0)) / 2
            half = (points[:, :2].max(axis=0) - points[:, :2].min(axis=0)).max() * 0.75
            x0, y0 = np.maximum(0, np.round(centre - half)).astype(int)
            size = int(min(2 * half, side - x0, side - y0))
            square = square[y0:y0 + size, x0:x0 + size]
        symmetric = (square + square[:, ::-1]) / 2
        tensor = np.asarray(Image.fromarray(symmetric.astype(np.uint8)).resize((192, 192), Image.BILINEAR),
                            dtype=np.float32)[None] / 255.0
        points = session.run(None, {"input": tensor})[0].reshape(468, 3) * square.shape[0] / 192.0
    return points


def mirror_map(points: np.ndarray) -> np.ndarray:
    """Index of each point's mirror image on a symmetric face: reflect the points about the face's midline
    and pair each with the nearest one."""
    from scipy.optimize import linear_sum_assignment

    reflected = points[:, :2].copy()
    reflected[:, 0] = points[1, 0] * 2 - reflected[:, 0]  # point 1, the nose tip, is on the midline
    cost = np.linalg.norm(points[:, None, :2] - reflected[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    mirror = np.empty(468, np.int32)
    mirror[cols] = rows  # reflected point j lands on point i: i is j's mirror image
    if not np.array_equal(mirror[mirror], np.arange(468)):
        raise ValueError("mirror pairing is not an involution")
    return mirror


def _areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    a, b, c = (points[triangles[:, i], :2] for i in range(3))
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.mkdir(parents=True, exist_ok=True)
    model = convert(source / "face_landmark.tflite")
    onnx_path = target / "face_mesh.onnx"
    onnx.save(model, str(onnx_path))
    print(f"wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB)")
    check(source / "face_landmark.tflite", onnx_path)
    parts = topology(source / "face_mesh_connections.py")
    frontal = frontal_mesh(onnx_path, Path(sys.argv[3]))
    parts["mirror"] = mirror_map(frontal)
    # Every triangle and outline turns the same way (positive area in image coordinates, y down) on a frontal
    # face, so a negative area tells a triangle turned away from the camera.
    for key, value in parts.items():
        if key == "triangles":
            flip = _areas(frontal, value) < 0
            value[flip] = value[flip][:, ::-1]
        elif key in ("face_oval", "outer_lips", "inner_lips", "image_left_eye", "image_right_eye"):
            fan = np.stack([np.full(len(value) - 2, value[0]), value[1:-1], value[2:]], axis=1)
            if _areas(frontal, fan).sum() < 0:
                parts[key] = value[::-1].copy()
    np.savez_compressed(target / "face_mesh_topology.npz", **parts)
    print(", ".join(f"{k} {v.shape}" for k, v in parts.items()))


if __name__ == "__main__":
    main()
