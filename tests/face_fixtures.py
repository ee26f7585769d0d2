"""Face images that ship inside installed packages, for tests and the swap bench (nothing is committed).

- insightface's t1.jpg: six people around a table (dlib finds all six faces)
- insightface's Tom_Hanks_54745.png: a 112 px black-and-white aligned face crop
- scikit-image's astronaut: one colour portrait
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import onnx

    from core.faces.base import DetectedFace, FaceEngine


def _insightface_image(name: str) -> Path:
    spec = importlib.util.find_spec("insightface")
    assert spec is not None and spec.origin is not None, "insightface is not installed"
    return Path(spec.origin).parent / "data" / "images" / name


T1_PATH = _insightface_image("t1.jpg")
TOM_HANKS_PATH = _insightface_image("Tom_Hanks_54745.png")

#: t1.jpg's people, left to right, by the x of their face's centre (as dlib finds them)
T1_PEOPLE = ("rachel", "monica", "ross", "chandler", "joey", "phoebe")


@functools.cache
def _rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def group_photo() -> np.ndarray:
    return _rgb(T1_PATH).copy()


def tom_hanks() -> np.ndarray:
    return _rgb(TOM_HANKS_PATH).copy()


@functools.cache
def _astronaut() -> np.ndarray:
    from skimage import data

    return np.asarray(data.astronaut())


def astronaut() -> np.ndarray:
    return _astronaut().copy()


def t1_faces(engine: FaceEngine) -> dict[str, DetectedFace]:
    """t1.jpg's six faces as an engine finds them, by name (left to right)."""
    faces = sorted(engine.detect(group_photo()), key=lambda f: float(f.bbox[0]))
    return dict(zip(T1_PEOPLE, faces, strict=True))


def crop_around(rgb: np.ndarray, bbox: np.ndarray, margin: float = 0.8) -> np.ndarray:
    """The face's box grown by `margin` of its size on each side: a picture of that one person."""
    x1, y1, x2, y2 = (float(v) for v in bbox)
    pad = margin * max(x2 - x1, y2 - y1)
    height, width = rgb.shape[:2]
    left, top = max(0, int(x1 - pad)), max(0, int(y1 - pad))
    right, bottom = min(width, int(x2 + pad)), min(height, int(y2 + pad))
    return rgb[top:bottom, left:right].copy()


@functools.cache
def portrait(name: str) -> bytes:
    """A JPEG photo of one person that swaps onto the demo catalog's group memes: "rachel" (t1.jpg's woman on the
    left, head turned: fits Ross's place) or "tom" (Tom Hanks, black and white, enlarged: fits Chandler's)."""
    if name == "tom":
        return encode(np.asarray(Image.fromarray(tom_hanks()).resize((336, 336), Image.Resampling.LANCZOS)))
    from core.faces.dlib_engine import DlibEngine

    return encode(crop_around(group_photo(), t1_faces(DlibEngine())[name].bbox), "JPEG", quality=95)


def encode(rgb: np.ndarray, fmt: str = "PNG", **params: object) -> bytes:
    import io

    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **params)
    return out.getvalue()


# --- tiny stand-ins for insightface's models (docs/DESIGN.md, "Traps": model_zoo routes by ONNX signature) ---

def _onnx_model(nodes: list, inputs: list, outputs: list, initializers: list) -> bytes:
    from onnx import helper

    graph = helper.make_graph(nodes, "standin", inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # old enough for any onnxruntime that insightface supports
    return model.SerializeToString()


def _tensor(name: str, array: np.ndarray) -> onnx.TensorProto:
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def _pooled_vector(size: int, grid: int, width: int, name: str, seed: int) -> bytes:
    """[1,3,size,size] -> average pool to grid x grid -> fixed random projection to [1,width]."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    kernel = size // grid
    nodes = [
        helper.make_node("AveragePool", ["data"], ["pooled"], kernel_shape=[kernel, kernel], strides=[kernel, kernel]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "weights"], ["projected"]),
        helper.make_node("Add", ["projected", "bias"], [name]),
    ]
    return _onnx_model(
        nodes,
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, width])],
        [_tensor("weights", rng.normal(0, 0.1, (3 * grid * grid, width))),
         _tensor("bias", rng.uniform(-0.5, 0.5, width))],
    )


def _detector() -> bytes:
    """SCRFD-shaped (9 outputs: scores, boxes, 5 points for strides 8/16/32, two anchors per cell). Its one
    face is the 32-px cell where red most exceeds blue (skin), boxed 128 px around that cell's corner."""
    from onnx import TensorProto, helper

    kps = np.array([-0.7, -0.5, 0.7, -0.5, 0.0, 0.1, -0.55, 0.8, 0.55, 0.8])
    nodes, outputs = [], {"score": [], "bbox": [], "kps": []}
    initializers = [
        _tensor("red_minus_blue", np.array([[1.0], [0.0], [-1.0]])),
        _tensor("zero1", np.zeros((1, 1))), _tensor("zero4", np.zeros((1, 4))), _tensor("zero10", np.zeros((1, 10))),
        _tensor("box", np.full(4, 2.0)), _tensor("points", kps),
    ]
    initializers.append(helper.make_tensor("rows", TensorProto.INT64, [2], [-1, 1]))
    initializers.append(helper.make_tensor("cells", TensorProto.INT64, [2], [-1, 3]))
    for stride in (8, 16, 32):
        s = str(stride)
        nodes += [
            helper.make_node("AveragePool", ["input.1"], [f"pool{s}"], kernel_shape=[stride, stride],
                             strides=[stride, stride]),
            helper.make_node("Transpose", [f"pool{s}"], [f"nhwc{s}"], perm=[0, 2, 3, 1]),
            helper.make_node("Reshape", [f"nhwc{s}", "cells"], [f"rgb{s}"]),  # [cells, 3]
            helper.make_node("MatMul", [f"rgb{s}", "red_minus_blue"], [f"skin{s}"]),  # [cells, 1]
            helper.make_node("Concat", [f"skin{s}", f"skin{s}"], [f"pair{s}"], axis=1),
            helper.make_node("Reshape", [f"pair{s}", "rows"], [f"anchor{s}"]),  # [cells * 2, 1]
        ]
        if stride == 32:
            nodes += [
                helper.make_node("ReduceMax", [f"anchor{s}"], [f"top{s}"], keepdims=1),
                helper.make_node("Equal", [f"anchor{s}", f"top{s}"], [f"hit{s}"]),
                helper.make_node("Cast", [f"hit{s}"], [f"score_{s}"], to=TensorProto.FLOAT),
            ]
        else:
            nodes.append(helper.make_node("MatMul", [f"anchor{s}", "zero1"], [f"score_{s}"]))
        nodes += [
            helper.make_node("MatMul", [f"anchor{s}", "zero4"], [f"bbox0_{s}"]),
            helper.make_node("Add", [f"bbox0_{s}", "box"], [f"bbox_{s}"]),
            helper.make_node("MatMul", [f"anchor{s}", "zero10"], [f"kps0_{s}"]),
            helper.make_node("Add", [f"kps0_{s}", "points"], [f"kps_{s}"]),
        ]
        for kind, width in (("score", 1), ("bbox", 4), ("kps", 10)):
            outputs[kind].append(helper.make_tensor_value_info(f"{kind}_{s}", TensorProto.FLOAT, [None, width]))
    return _onnx_model(
        nodes,
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, "height", "width"])],
        outputs["score"] + outputs["bbox"] + outputs["kps"],
        initializers,
    )


def _swapper(latent: int = 512) -> bytes:
    """INSwapper-shaped: target [1,3,128,128] + latent [1,D] -> [1,3,128,128]; a tint from the latent over
    the inverted target. `emap` is the graph's last initializer, as INSwapper reads it."""
    from onnx import TensorProto, helper

    rng = np.random.default_rng(7)
    nodes = [
        helper.make_node("MatMul", ["source", "tint_weights"], ["tint_flat"]),
        helper.make_node("Reshape", ["tint_flat", "tint_shape"], ["tint"]),
        helper.make_node("Sub", ["one", "target"], ["inverted"]),
        helper.make_node("Add", ["inverted", "tint"], ["mixed"]),
        helper.make_node("Clip", ["mixed", "zero", "one"], ["output"]),
    ]
    initializers = [
        _tensor("tint_weights", rng.normal(0, 0.05, (latent, 3))),
        helper.make_tensor("tint_shape", TensorProto.INT64, [4], [1, 3, 1, 1]),
        _tensor("one", np.array(1.0)), _tensor("zero", np.array(0.0)),
        _tensor("emap", np.eye(latent) + rng.normal(0, 0.01, (latent, latent))),
    ]
    return _onnx_model(
        nodes,
        [helper.make_tensor_value_info("target", TensorProto.FLOAT, [1, 3, 128, 128]),
         helper.make_tensor_value_info("source", TensorProto.FLOAT, [1, latent])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 3, 128, 128])],
        initializers,
    )


def build_insightface_models(models_dir: Path) -> Path:
    """A models folder laid out as the insightface engine expects, with stand-ins under the real names:
    buffalo_l/{det_10g, 2d106det, genderage, w600k_r50}.onnx and inswapper_128.onnx at the root."""
    pack = models_dir / "buffalo_l"
    pack.mkdir(parents=True, exist_ok=True)
    (pack / "det_10g.onnx").write_bytes(_detector())
    (pack / "2d106det.onnx").write_bytes(_pooled_vector(192, 4, 212, "landmarks", seed=1))
    (pack / "genderage.onnx").write_bytes(_pooled_vector(96, 4, 3, "genderage", seed=2))
    (pack / "w600k_r50.onnx").write_bytes(_pooled_vector(112, 8, 512, "embedding", seed=3))
    (models_dir / "inswapper_128.onnx").write_bytes(_swapper())
    return models_dir
