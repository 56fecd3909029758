/**
 * The few TensorFlow protocol buffers chrysalis writes (GraphDef, its nodes and attributes, and the SavedModel
 * around it), encoded by hand: a compiled step's graph is built from the model spec in TypeScript, with no Python
 * and no protobuf library. Field numbers are those of tensorflow/core/framework/{graph,node_def,attr_value,tensor,
 * tensor_shape,types}.proto and tensorflow/core/protobuf/{saved_model,meta_graph}.proto.
 */

/** TensorFlow's DataType enum values used here. */
export const DType = { float: 1, int32: 3, bool: 10, resource: 20 } as const;
export type DTypeName = keyof typeof DType;

/** A tensor constant: float32 or int32 values of a shape. */
export interface ConstTensor {
  dtype: 'float' | 'int32';
  shape: readonly number[];
  values: ArrayLike<number>;
}

/** One attribute value of a node: the kinds the graphs here use. */
export type Attr =
  | { s: string }
  | { i: number }
  | { f: number }
  | { b: boolean }
  | { type: DTypeName }
  | { shape: readonly number[] | null }
  | { tensor: ConstTensor }
  | { listType: readonly DTypeName[] }
  | { listInt: readonly number[] };

export interface NodeDef {
  name: string;
  op: string;
  /** `node`, `node:1`, or `^node` for a control input (control inputs last). */
  inputs: readonly string[];
  attrs: Readonly<Record<string, Attr>>;
}

/** Protobuf wire-format writer: varints and length-delimited fields into a growing byte list. */
class Writer {
  private readonly bytes: number[] = [];

  varint(v: number | bigint): void {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) {
      this.bytes.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.bytes.push(Number(x));
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, 0);
    this.varint(v);
  }

  fixed32(field: number, f: number): void {
    this.tag(field, 5);
    const b = new Uint8Array(new Float32Array([f]).buffer);
    this.bytes.push(...b);
  }

  bytesField(field: number, data: Uint8Array): void {
    this.tag(field, 2);
    this.varint(data.length);
    for (const x of data) this.bytes.push(x);
  }

  string(field: number, s: string): void {
    this.bytesField(field, new TextEncoder().encode(s));
  }

  message(field: number, write: (w: Writer) => void): void {
    const inner = new Writer();
    write(inner);
    this.bytesField(field, inner.finish());
  }

  packedInts(field: number, values: readonly number[]): void {
    const inner = new Writer();
    for (const v of values) inner.varint(v);
    this.bytesField(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

function writeShape(w: Writer, dims: readonly number[] | null): void {
  if (dims === null) {
    w.int(3, 1); // unknown_rank
    return;
  }
  for (const d of dims) w.message(2, (dim) => dim.int(1, d));
}

function writeTensor(w: Writer, t: ConstTensor): void {
  w.int(1, DType[t.dtype]);
  w.message(2, (s) => writeShape(s, t.shape));
  const content = t.dtype === 'float' ? new Float32Array(t.values) : new Int32Array(t.values);
  w.bytesField(4, new Uint8Array(content.buffer));
}

function writeAttr(w: Writer, a: Attr): void {
  if ('s' in a) w.string(2, a.s);
  else if ('i' in a) w.int(3, a.i);
  else if ('f' in a) w.fixed32(4, a.f);
  else if ('b' in a) w.int(5, a.b ? 1 : 0);
  else if ('type' in a) w.int(6, DType[a.type]);
  else if ('shape' in a) w.message(7, (s) => writeShape(s, a.shape));
  else if ('tensor' in a) w.message(8, (t) => writeTensor(t, a.tensor));
  else if ('listType' in a)
    w.message(1, (l) =>
      l.packedInts(
        6,
        a.listType.map((d) => DType[d]),
      ),
    );
  else w.message(1, (l) => l.packedInts(3, a.listInt));
}

function writeNode(w: Writer, n: NodeDef): void {
  w.string(1, n.name);
  w.string(2, n.op);
  for (const i of n.inputs) w.string(3, i);
  for (const [key, value] of Object.entries(n.attrs))
    w.message(5, (entry) => {
      entry.string(1, key);
      entry.message(2, (v) => writeAttr(v, value));
    });
}

/**
 * The GraphDef's producer version: TF_GRAPH_DEF_VERSION of TensorFlow 2.18.1 (tensorflow/core/public/version.h), so
 * the importer applies no compatibility rewrites written for older graphs.
 */
const GRAPH_PRODUCER = 1994;

/** A GraphDef of `nodes`. */
export function encodeGraphDef(nodes: readonly NodeDef[]): Uint8Array {
  const w = new Writer();
  for (const n of nodes) w.message(1, (m) => writeNode(m, n));
  w.message(4, (v) => v.int(1, GRAPH_PRODUCER));
  return w.finish();
}

/**
 * A SavedModel (saved_model.pb) holding one MetaGraphDef of `nodes` tagged `tag`, without signatures or variables:
 * TensorFlow's loader then creates a session on the graph and restores nothing; callers feed and fetch tensors by
 * node name.
 */
export function encodeSavedModel(nodes: readonly NodeDef[], tag: string): Uint8Array {
  const graph = encodeGraphDef(nodes);
  const w = new Writer();
  w.int(1, 1); // saved_model_schema_version
  w.message(2, (meta) => {
    meta.message(1, (info) => {
      info.string(4, tag);
      info.string(5, '2.18.1');
    });
    meta.bytesField(2, graph);
  });
  return w.finish();
}
