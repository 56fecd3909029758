/**
 * A TensorFlow graph written node by node, with one helper per op the compiled models use, each setting the
 * attributes TensorFlow has no default for. Outputs are referred to as TensorFlow names them (`node:index`).
 */
import type { Attr, ConstTensor, DTypeName, NodeDef } from './proto';

/** An op's output, `node:index`; `.node` names the op for control inputs. */
export class Out {
  constructor(
    readonly node: string,
    readonly index = 0,
  ) {}

  toString(): string {
    return `${this.node}:${this.index}`;
  }
}

const F: Attr = { type: 'float' };
const I32: Attr = { type: 'int32' };

export class GraphBuilder {
  readonly nodes: NodeDef[] = [];
  private readonly used = new Set<string>();

  /** Adds a node; `name` is made unique with a counter; `after` become control inputs. */
  op(op: string, inputs: readonly Out[], attrs: Record<string, Attr> = {}, name = op, after: readonly Out[] = []): Out {
    let unique = name;
    for (let k = 1; this.used.has(unique); k++) unique = `${name}_${k}`;
    this.used.add(unique);
    const control = [...new Set(after.map((a) => `^${a.node}`))];
    this.nodes.push({ name: unique, op, inputs: [...inputs.map(String), ...control], attrs });
    return new Out(unique);
  }

  /** The i-th output of a multi-output op. */
  static output(o: Out, i: number): Out {
    return new Out(o.node, i);
  }

  placeholder(name: string, dtype: DTypeName, shape: readonly number[] | null): Out {
    return this.op('Placeholder', [], { dtype: { type: dtype }, shape: { shape } }, name);
  }

  constant(t: ConstTensor, name = 'Const'): Out {
    return this.op('Const', [], { dtype: { type: t.dtype }, value: { tensor: t } }, name);
  }

  scalar(v: number, name = 'Const'): Out {
    return this.constant({ dtype: 'float', shape: [], values: [v] }, name);
  }

  ints(values: readonly number[], name = 'Const'): Out {
    return this.constant({ dtype: 'int32', shape: [values.length], values }, name);
  }

  /** A float resource variable `name` of `shape`; TensorFlow creates it on its first assignment. */
  variable(name: string, shape: readonly number[]): Out {
    return this.op(
      'VarHandleOp',
      [],
      { dtype: F, shape: { shape }, shared_name: { s: name }, container: { s: '' } },
      `var/${name}`,
    );
  }

  read(v: Out, after: readonly Out[] = []): Out {
    return this.op('ReadVariableOp', [v], { dtype: F }, 'Read', after);
  }

  assign(v: Out, value: Out, after: readonly Out[] = []): Out {
    return this.op('AssignVariableOp', [v, value], { dtype: F }, 'Assign', after);
  }

  /** Element-wise or matrix ops on floats: `T` is float. */
  f(op: string, inputs: readonly Out[], attrs: Record<string, Attr> = {}, after: readonly Out[] = []): Out {
    return this.op(op, inputs, { T: F, ...attrs }, op, after);
  }

  matMul(a: Out, b: Out, transposeA = false, transposeB = false): Out {
    return this.f('MatMul', [a, b], { transpose_a: { b: transposeA }, transpose_b: { b: transposeB } });
  }

  /** Sum or Mean over `axes`. */
  reduce(op: 'Sum' | 'Mean' | 'Max', x: Out, axes: readonly number[], keepDims = false): Out {
    return this.f(op, [x, this.ints(axes)], { Tidx: I32, keep_dims: { b: keepDims } });
  }

  cast(x: Out, from: DTypeName, to: DTypeName): Out {
    return this.op('Cast', [x], { SrcT: { type: from }, DstT: { type: to } });
  }

  /** A float32 Identity that runs only after `after`: how a fetch waits for the updates. */
  identity(x: Out, name: string, after: readonly Out[] = [], dtype: DTypeName = 'float'): Out {
    return this.op('Identity', [x], { T: { type: dtype } }, name, after);
  }

  /** The `count` scalars of a float vector. */
  unpack(x: Out, count: number, dtype: DTypeName = 'float'): Out[] {
    const u = this.op('Unpack', [x], { T: { type: dtype }, num: { i: count }, axis: { i: 0 } });
    return Array.from({ length: count }, (_, i) => GraphBuilder.output(u, i));
  }

  pack(xs: readonly Out[]): Out {
    return this.op('Pack', xs, { T: F, N: { i: xs.length }, axis: { i: 0 } });
  }
}
