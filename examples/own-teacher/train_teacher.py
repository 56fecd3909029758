"""A teacher made outside chrysalis: a Keras CNN trained on an image folder and saved as a SavedModel.

  python examples/own-teacher/train_teacher.py <image folder> <SavedModel out dir> [--epochs 10]

Reads <folder>/train/<class>/*.png (32x32 RGB), feeds pixels / 255 (chrysalis feeds imported teachers
the same, channels last), trains, reports test accuracy on <folder>/test, and saves with Keras 3's
model.export (signature "serving_default", logits out). Prints a JSON line last.
"""
import argparse
import json
import tensorflow as tf

p = argparse.ArgumentParser()
p.add_argument("folder")
p.add_argument("out")
p.add_argument("--epochs", type=int, default=10)
a = p.parse_args()
tf.keras.utils.set_random_seed(1)


def split(name, shuffle):
    ds = tf.keras.utils.image_dataset_from_directory(
        f"{a.folder}/{name}", image_size=(32, 32), batch_size=128, shuffle=shuffle, seed=1,
        interpolation="bilinear", label_mode="int", color_mode="rgb"
    )
    return ds.class_names, ds.map(lambda x, y: (x / 255.0, y)).prefetch(2)


classes, train = split("train", True)
_, test = split("test", False)
model = tf.keras.Sequential([
    tf.keras.Input(shape=(32, 32, 3)),
    tf.keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
    tf.keras.layers.MaxPooling2D(),
    tf.keras.layers.Flatten(),
    tf.keras.layers.Dropout(0.3),
    tf.keras.layers.Dense(256, activation="relu"),
    tf.keras.layers.Dense(len(classes)),
])
model.compile(optimizer="adam", loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(train, epochs=a.epochs, verbose=2)
_, accuracy = model.evaluate(test, verbose=0)
model.export(a.out, verbose=False)
print(json.dumps({"classes": classes, "test_accuracy": accuracy, "tensorflow": tf.__version__, "saved": a.out}))
