"""Python TensorFlow side of the teacher-import tests: writes a tiny Keras teacher as a SavedModel, and
computes a SavedModel's outputs on given inputs, independently of chrysalis.

  save OUT_DIR --classes C [--probabilities] [--input-shape 28,28]
      a Flatten-Dense(32, relu)-Dense(C) model, saved with Keras 3's model.export (signature
      "serving_default", one input, one output)
  predict MODEL_DIR INPUTS.f32 N OUT.f32 [--input-shape 28,28] [--signature serving_default]
      INPUTS.f32 is float32 [N, *input-shape]; OUT.f32 gets the signature's only output, float32 row-major
Prints the TensorFlow version on its last line.
"""
import argparse
import numpy as np
import tensorflow as tf

p = argparse.ArgumentParser()
sub = p.add_subparsers(dest="cmd", required=True)
s = sub.add_parser("save")
s.add_argument("out")
s.add_argument("--classes", type=int, required=True)
s.add_argument("--probabilities", action="store_true")
s.add_argument("--input-shape", default="28,28")
r = sub.add_parser("predict")
r.add_argument("model")
r.add_argument("inputs")
r.add_argument("n", type=int)
r.add_argument("out")
r.add_argument("--input-shape", default="28,28")
r.add_argument("--signature", default="serving_default")
a = p.parse_args()
shape = [int(d) for d in a.input_shape.split(",")]

if a.cmd == "save":
    tf.keras.utils.set_random_seed(7)
    model = tf.keras.Sequential(
        [
            tf.keras.Input(shape=shape),
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(32, activation="relu"),
            tf.keras.layers.Dense(a.classes, activation="softmax" if a.probabilities else None),
        ]
    )
    model.export(a.out, verbose=False)
else:
    fn = tf.saved_model.load(a.model).signatures[a.signature]
    (name,) = fn.structured_input_signature[1].keys()
    x = np.fromfile(a.inputs, dtype="<f4").reshape([a.n, *shape])
    (y,) = fn(**{name: tf.constant(x)}).values()
    np.asarray(y, dtype="<f4").tofile(a.out)
print(tf.__version__)
