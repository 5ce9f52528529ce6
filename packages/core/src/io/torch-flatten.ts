/**
 * Flattening an unpickled PyTorch object tree into named tensors, with the names PyTorch itself would use:
 * - container keys (dicts, lists) join with `/`: `{"g_ema": state_dict}` → `g_ema/style.1.weight`;
 * - state-dict keys are kept verbatim (`model.diffusion_model.out.2.bias`);
 * - inside an object, attributes join with `.` (`visual.conv1.weight`), and the object's dotted names join its
 *   container path with `/` (`{"G": module}` → `G/mapping.fc0.weight`). Objects are pickled `nn.Module`s (their
 *   `_parameters`, persistent `_buffers` and `_modules`, as `state_dict()` orders them), NVLabs
 *   `persistence._reconstruct_persistent_obj` records (the module state inside their `meta`), TorchScript
 *   `__torch__.*` objects and other inert records (their BUILD attribute dicts);
 * - non-tensor values (numbers, strings, flags such as `training`, inert records without tensors) are skipped.
 * @module
 */
import { CheckpointFormatError, OptionError } from '../errors.js';
import { describeValue, PickleObject } from './pickle.js';
import { TorchTensor } from './torch-tensors.js';

/**
 * Options of {@link flattenStateDict}.
 *
 * @example
 * ```ts
 * flattenStateDict(obj, { root: ['model', 'ema'] });
 * ```
 */
export interface FlattenOptions {
  /**
   * Key path of the sub-tree to flatten, e.g. `'state_dict'` (Lightning / StyleCLIP checkpoints), `'G_ema'`
   * (NVLabs pickles), `['model', 'ema']`. Names are then relative to it. Default: the whole object.
   */
  root?: string | readonly string[];
}

const MAX_DEPTH = 256;
const MAX_VISITS = 10_000_000;
const NVLABS_RECORD = 'torch_utils.persistence._reconstruct_persistent_obj';

/** The `__dict__` of a pickled `nn.Module` (plain or NVLabs-persistent), or `undefined` if `o` is not one. */
function moduleState(o: PickleObject): Map<unknown, unknown> | undefined {
  const st = objectState(o);
  return st && (st.get('_parameters') instanceof Map || st.get('_modules') instanceof Map) ? st : undefined;
}

/** The attribute dict of an inert object: BUILD state (or its dict half), or an NVLabs record's `meta.state`. */
function objectState(o: PickleObject): Map<unknown, unknown> | undefined {
  if (o.qualifiedName === NVLABS_RECORD) {
    const meta = o.args[0];
    const st = meta instanceof Map ? meta.get('state') : undefined;
    return st instanceof Map ? st : undefined;
  }
  if (o.state instanceof Map) return o.state;
  if (Array.isArray(o.state) && o.state[0] instanceof Map) return o.state[0] as Map<unknown, unknown>;
  return undefined;
}

function join(a: string, key: unknown, sep: string): string {
  const k = typeof key === 'string' ? key : String(key);
  return a ? `${a}${sep}${k}` : k;
}

/**
 * Walks the tree keeping two name parts: `prefix`, the container path (`/`-joined), and `attr`, the dotted
 * attribute path inside the object (module) reached last. A tensor is named `prefix/attr`.
 */
class Flattener {
  readonly out = new Map<string, TorchTensor>();
  private visits = 0;
  private readonly onPath = new Set<object>();

  private add(name: string, t: TorchTensor): void {
    if (this.out.has(name)) throw new CheckpointFormatError(`two tensors would both be named "${name}"`);
    this.out.set(name, t);
  }

  walk(v: unknown, prefix: string, attr: string, depth: number): void {
    if (v === null || typeof v !== 'object') return;
    const name = attr ? join(prefix, attr, '/') : prefix;
    if (v instanceof TorchTensor) return this.add(name, v);
    if (++this.visits > MAX_VISITS) throw new CheckpointFormatError(`object tree has more than ${MAX_VISITS} nodes`);
    if (depth > MAX_DEPTH) throw new CheckpointFormatError(`object tree is nested more than ${MAX_DEPTH} levels deep at "${name}"`);
    if (this.onPath.has(v)) return; // a reference cycle: the object is already being flattened above
    this.onPath.add(v);
    if (v instanceof Map) for (const [k, x] of v) this.walk(x, join(name, k, '/'), '', depth + 1);
    else if (Array.isArray(v)) v.forEach((x, i) => this.walk(x, join(name, i, '/'), '', depth + 1));
    else if (v instanceof PickleObject) this.object(v, prefix, attr, depth);
    this.onPath.delete(v);
  }

  private object(o: PickleObject, prefix: string, attr: string, depth: number): void {
    const mod = moduleState(o);
    if (mod) return this.module(mod, prefix, attr, depth);
    const st = objectState(o);
    if (st) for (const [k, x] of st) this.walk(x, prefix, join(attr, k, '.'), depth + 1);
    const name = attr ? join(prefix, attr, '/') : prefix;
    if (o.items) for (const [k, x] of o.items) this.walk(x, join(name, k, '/'), '', depth + 1);
    if (o.list) o.list.forEach((x, i) => this.walk(x, join(name, i, '/'), '', depth + 1));
  }

  private module(st: Map<unknown, unknown>, prefix: string, attr: string, depth: number): void {
    const params = st.get('_parameters');
    const buffers = st.get('_buffers');
    const modules = st.get('_modules');
    const transient = st.get('_non_persistent_buffers_set');
    const tensor = (k: unknown, x: unknown): void => {
      if (x instanceof TorchTensor) this.add(join(prefix, join(attr, k, '.'), '/'), x);
    };
    if (params instanceof Map) for (const [k, x] of params) tensor(k, x);
    if (buffers instanceof Map) for (const [k, x] of buffers) if (!(transient instanceof Set && transient.has(k))) tensor(k, x);
    if (modules instanceof Map) for (const [k, m] of modules) this.walk(m, prefix, join(attr, k, '.'), depth + 1);
  }
}

function child(v: unknown, key: string): unknown {
  if (v instanceof Map) return v.has(key) ? v.get(key) : /^\d+$/.test(key) ? v.get(Number(key)) : undefined;
  if (Array.isArray(v)) return /^\d+$/.test(key) ? v[Number(key)] : undefined;
  if (v instanceof PickleObject) {
    const mod = moduleState(v);
    if (mod) {
      for (const part of ['_parameters', '_buffers', '_modules']) {
        const m = mod.get(part);
        if (m instanceof Map && m.has(key)) return m.get(key);
      }
      return undefined;
    }
    return objectState(v)?.get(key) ?? v.items?.get(key);
  }
  return undefined;
}

function keysOf(v: unknown): string {
  const keys = v instanceof Map ? [...v.keys()] : v instanceof PickleObject ? [...(objectState(v)?.keys() ?? [])] : [];
  return keys.length ? keys.slice(0, 12).map(String).join(', ') : describeValue(v);
}

/**
 * Collects every tensor of an unpickled object tree under its PyTorch-style name (see the module notes for the
 * naming rules). Tensors stay lazy views; read them with `materializeTensors`.
 *
 * @param obj     the unpickled object (`TorchCheckpoint.object`)
 * @param options `root` picks a sub-tree by key path
 * @example
 * ```ts
 * flattenStateDict(ckpt.object, { root: 'state_dict' }).get('model.diffusion_model.out.2.bias')!.shape; // [4]
 * flattenStateDict(nvlabs.object, { root: 'G_ema' }).has('mapping.fc0.weight');                        // true
 * flattenStateDict(rosinality.object).has('g_ema/style.1.weight');                                      // true
 * ```
 */
export function flattenStateDict(obj: unknown, options: FlattenOptions = {}): Map<string, TorchTensor> {
  const path = options.root === undefined ? [] : typeof options.root === 'string' ? [options.root] : options.root;
  let node = obj;
  const seen: string[] = [];
  for (const key of path) {
    const next = child(node, key);
    if (next === undefined) {
      const at = seen.length ? `"${seen.join('/')}"` : 'the top level';
      throw new OptionError('root', `no entry "${key}" at ${at} (there: ${keysOf(node)})`);
    }
    seen.push(key);
    node = next;
  }
  const f = new Flattener();
  f.walk(node, '', '', 0);
  return f.out;
}

/**
 * The tensors of a TorchScript archive's `constants.pkl` tuple, named `constants.pkl[i]` by position (the
 * traced code refers to them as `CONSTANTS.c<i>`); non-tensor constants are skipped.
 *
 * @param constants `TorchCheckpoint.constants`
 * @example
 * ```ts
 * torchScriptConstants(jit.constants).get('constants.pkl[3]')!.shape; // [77, 77] (CLIP's causal mask)
 * ```
 */
export function torchScriptConstants(constants: unknown): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  if (!Array.isArray(constants)) return out;
  constants.forEach((c, i) => {
    if (c instanceof TorchTensor) out.set(`constants.pkl[${i}]`, c);
  });
  return out;
}
