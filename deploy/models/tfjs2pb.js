#!/usr/bin/env node
/*
 * tfjs2pb.js - turns a TensorFlow.js graph model (model.json: a GraphDef in
 * protobuf's JSON mapping, plus binary weight shards) into a binary TensorFlow
 * GraphDef (.pb) with every weight inside as a Const node, which OpenCV's DNN
 * module reads (cv::dnn::readNetFromTensorflow). Used by install-models.sh.
 *
 *   node tfjs2pb.js model.json out.pb [--outputs name,name]
 *
 * What it does beyond re-encoding:
 * - weights quantized to float16/uint8/uint16 by the tfjs converter are
 *   expanded back to float32 (OpenCV reads float32 Const tensors);
 * - tfjs' fused ops (_FusedConv2D, FusedDepthwiseConv2dNative with
 *   fused_ops BiasAdd[,Relu|Relu6|Elu|Sigmoid]) become the plain ops
 *   they stand for (Conv2D, BiasAdd, activation), which OpenCV knows;
 * - an Add of a per-channel constant right after a convolution becomes
 *   BiasAdd (OpenCV then runs the model on batches; see foldBiasAdds);
 * - --outputs keeps only the nodes those outputs need (drops a model's
 *   post-processing that OpenCV cannot run, done by our C++ instead).
 * Only what these models use is written; anything unexpected is an error,
 * never silently dropped.
 */
'use strict';
const fs = require('fs');
const path = require('path');

/* ---- protobuf encoding (wire types 0 varint, 2 length-delimited, 5 fixed32) */
function varint(n) {
	let v = BigInt.asUintN(64, BigInt(n));
	const out = [];
	do {
		let b = Number(v & 0x7fn);
		v >>= 7n;
		if(v !== 0n) b |= 0x80;
		out.push(b);
	} while(v !== 0n);
	return Buffer.from(out);
}
const key = (field, wire) => varint((field << 3) | wire);
const fVarint = (field, n) => Buffer.concat([key(field, 0), varint(n)]);
function fBytes(field, buf) {
	if(typeof buf === 'string') buf = Buffer.from(buf, 'utf8');
	return Buffer.concat([key(field, 2), varint(buf.length), buf]);
}
function fFloat(field, f) {
	const b = Buffer.alloc(4);
	b.writeFloatLE(f);
	return Buffer.concat([key(field, 5), b]);
}
const packed = (field, items, enc) => fBytes(field, Buffer.concat(items.map(enc)));

const DTYPES = { DT_FLOAT: 1, DT_DOUBLE: 2, DT_INT32: 3, DT_UINT8: 4, DT_INT16: 5, DT_INT8: 6, DT_STRING: 7,
	DT_INT64: 9, DT_BOOL: 10, DT_HALF: 19 };
function dtype(name) {
	if(!(name in DTYPES)) throw new Error(`unsupported dtype ${name}`);
	return DTYPES[name];
}

/* TensorShapeProto: dim = 2 (size = 1), unknown_rank = 3 */
function shapeProto(s) {
	const parts = [];
	for(const d of (s && s.dim) || []) parts.push(fBytes(2, fVarint(1, d.size === undefined ? 0 : d.size)));
	if(s && s.unknownRank) parts.push(fVarint(3, 1));
	return Buffer.concat(parts);
}

/* TensorProto: dtype = 1, tensor_shape = 2, tensor_content = 4 */
function tensorProto(dt, dims, content) {
	return Buffer.concat([fVarint(1, dtype(dt)), fBytes(2, shapeProto({ dim: dims.map((size) => ({ size })) })),
		fBytes(4, content)]);
}

/* AttrValue: list = 1, s = 2, i = 3, f = 4, b = 5, type = 6, shape = 7, tensor = 8 */
function attrValue(a) {
	if('s' in a) return fBytes(2, Buffer.from(a.s, 'base64'));
	if('i' in a) return fVarint(3, a.i);
	if('f' in a) return fFloat(4, Number(a.f));
	if('b' in a) return fVarint(5, a.b ? 1 : 0);
	if('type' in a) return fVarint(6, dtype(a.type));
	if('shape' in a) return fBytes(7, shapeProto(a.shape));
	if('tensor' in a) throw new Error('inline tensors are written by the Const path only');
	if('list' in a) {
		const l = a.list, parts = [];
		/* ListValue: s = 2, i = 3 (packed), f = 4 (packed), b = 5, type = 6 (packed), shape = 7 */
		if(l.s) for(const s of l.s) parts.push(fBytes(2, Buffer.from(s, 'base64')));
		if(l.i && l.i.length) parts.push(packed(3, l.i, varint));
		if(l.f && l.f.length) parts.push(packed(4, l.f, (f) => { const b = Buffer.alloc(4); b.writeFloatLE(Number(f)); return b; }));
		if(l.b && l.b.length) parts.push(packed(5, l.b, (b) => varint(b ? 1 : 0)));
		if(l.type && l.type.length) parts.push(packed(6, l.type, (t) => varint(dtype(t))));
		if(l.shape) for(const s of l.shape) parts.push(fBytes(7, shapeProto(s)));
		return fBytes(1, Buffer.concat(parts));
	}
	throw new Error(`unsupported attribute ${JSON.stringify(a)}`);
}

/* NodeDef: name = 1, op = 2, input = 3, device = 4, attr = 5 (map entry: key = 1, value = 2) */
function nodeDef(n) {
	const parts = [fBytes(1, n.name), fBytes(2, n.op)];
	for(const i of n.input || []) parts.push(fBytes(3, i));
	for(const [k, v] of Object.entries(n.attr || {}))
		parts.push(fBytes(5, Buffer.concat([fBytes(1, k), fBytes(2, v instanceof Buffer ? v : attrValue(v))])));
	return Buffer.concat(parts);
}

/* ---- weights */
function halfToFloat(h) {
	const s = (h & 0x8000) ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
	if(e === 0) return s * Math.pow(2, -14) * (m / 1024);
	if(e === 31) return m ? NaN : s * Infinity;
	return s * Math.pow(2, e - 15) * (1 + m / 1024);
}

const BYTES = { float32: 4, int32: 4, float16: 2, uint8: 1, uint16: 2, bool: 1 };

/* name -> { dtype: 'DT_FLOAT'|'DT_INT32', dims, content (Buffer, little-endian) } */
function readWeights(model, dir) {
	const out = new Map();
	for(const group of model.weightsManifest) {
		const data = Buffer.concat(group.paths.map((p) => fs.readFileSync(path.join(dir, path.basename(p)))));
		let off = 0;
		for(const w of group.weights) {
			const count = w.shape.reduce((a, b) => a * b, 1);
			const q = w.quantization;
			const stored = q ? q.dtype : w.dtype;
			if(!(stored in BYTES)) throw new Error(`weight ${w.name}: dtype ${stored}`);
			const len = count * BYTES[stored];
			if(off + len > data.length) throw new Error(`weight ${w.name}: past the end of the shards`);
			const raw = data.subarray(off, off + len);
			off += len;
			let content, dt;
			if(w.dtype === 'float32') {
				dt = 'DT_FLOAT';
				content = Buffer.alloc(count * 4);
				for(let i = 0; i < count; i++) {
					let v;
					if(!q) v = raw.readFloatLE(4 * i);
					else if(q.dtype === 'float16') v = halfToFloat(raw.readUInt16LE(2 * i));
					else if(q.dtype === 'uint8') v = raw[i] * q.scale + q.min;
					else if(q.dtype === 'uint16') v = raw.readUInt16LE(2 * i) * q.scale + q.min;
					else throw new Error(`weight ${w.name}: quantization ${q.dtype}`);
					content.writeFloatLE(v, 4 * i);
				}
			} else if(w.dtype === 'int32' && !q) {
				dt = 'DT_INT32';
				content = Buffer.from(raw);
			} else {
				throw new Error(`weight ${w.name}: dtype ${w.dtype}${q ? ' quantized as ' + q.dtype : ''}`);
			}
			out.set(w.name, { dtype: dt, dims: w.shape, content });
		}
		if(off !== data.length) throw new Error(`shards of ${group.paths} hold ${data.length - off} bytes beyond the manifest`);
	}
	return out;
}

/* ---- graph rewriting */
const FUSED = { _FusedConv2D: 'Conv2D', FusedDepthwiseConv2dNative: 'DepthwiseConv2dNative' };
const ACTIVATIONS = new Set(['Relu', 'Relu6', 'Elu', 'Sigmoid', 'Tanh']);

function unfuse(nodes) {
	const out = [];
	for(const n of nodes) {
		if(!(n.op in FUSED)) {
			out.push(n);
			continue;
		}
		const ops = ((n.attr.fused_ops && n.attr.fused_ops.list.s) || []).map((s) => Buffer.from(s, 'base64').toString());
		if(ops[0] !== 'BiasAdd' || ops.length > 2 || (ops.length === 2 && !ACTIVATIONS.has(ops[1])))
			throw new Error(`${n.name}: cannot unfuse ${n.op} with ${ops.join(',')}`);
		const attr = {};
		for(const [k, v] of Object.entries(n.attr))
			if(!['fused_ops', 'num_args', 'epsilon', 'leakyrelu_alpha', 'num_host_args'].includes(k)) attr[k] = v;
		const [x, filter, bias] = n.input;
		const conv = `${n.name}/unfused_conv`, biased = ops.length === 2 ? `${n.name}/unfused_bias` : n.name;
		out.push({ name: conv, op: FUSED[n.op], input: [x, filter], attr });
		const t = { T: n.attr.T || { type: 'DT_FLOAT' } };
		const fmt = n.attr.data_format ? { data_format: n.attr.data_format } : {};
		out.push({ name: biased, op: 'BiasAdd', input: [conv, bias], attr: { ...t, ...fmt } });
		if(ops.length === 2) out.push({ name: n.name, op: ops[1], input: [biased], attr: t });
	}
	return out;
}

/* An Add of a per-channel constant after a convolution is the convolution's
 * bias: written as BiasAdd, which OpenCV folds into the convolution layer.
 * Left as Add, OpenCV 4.6 makes it a Scale layer, which refuses any batch of
 * more than one picture (the worker runs BATCH_SIZE frames through the model
 * at once). Two shapes occur: Add(conv, c), and, where tfjs' optimizer moved
 * a residual block's bias past the sum, Add(c, AddN(conv, skip)), which
 * becomes AddN(BiasAdd(conv, c), skip). Same arithmetic either way. */
const CONVOLUTIONS = new Set(['Conv2D', 'DepthwiseConv2dNative', 'Conv2DBackpropInput']);
function foldBiasAdds(nodes, weights) {
	const byName = new Map(nodes.map((n) => [n.name, n]));
	const consumers = new Map();
	for(const n of nodes)
		for(const i of n.input || []) consumers.set(i, (consumers.get(i) || 0) + 1);
	const isConv = (name) => byName.has(name) && CONVOLUTIONS.has(byName.get(name).op) &&
		(byName.get(name).attr.data_format === undefined ||
			Buffer.from(byName.get(name).attr.data_format.s, 'base64').toString() === 'NHWC');
	const channelConst = (name) => byName.has(name) && byName.get(name).op === 'Const' && weights.has(name) &&
		weights.get(name).dims.length === 1;
	const out = [];
	const replaced = new Set();	/* sums rewritten into the Add that used them */
	const before = new Map();	/* sum's name -> BiasAdd node to emit ahead of it */
	const rewritten = new Map();
	for(const n of nodes) {
		if((n.op !== 'Add' && n.op !== 'AddV2') || !n.input || n.input.length !== 2) continue;
		const ci = n.input.findIndex(channelConst);
		if(ci < 0) continue;
		const c = n.input[ci], x = n.input[1 - ci];
		const t = (n.attr && n.attr.T) || { type: 'DT_FLOAT' };
		if(isConv(x)) {
			rewritten.set(n.name, { name: n.name, op: 'BiasAdd', input: [x, c], attr: { T: t } });
			continue;
		}
		const sum = byName.get(x);
		if(!sum || !['AddN', 'Add', 'AddV2'].includes(sum.op) || consumers.get(x) !== 1 || sum.input.length !== 2) continue;
		const ai = sum.input.findIndex((i) => isConv(i) && consumers.get(i) === 1);
		if(ai < 0) continue;
		const biased = { name: `${n.name}/folded_bias`, op: 'BiasAdd', input: [sum.input[ai], c], attr: { T: t } };
		const inputs = sum.input.slice();
		inputs[ai] = biased.name;
		before.set(sum.name, biased);
		replaced.add(sum.name);
		rewritten.set(n.name, { name: n.name, op: sum.op, input: inputs, attr: sum.attr });
	}
	for(const n of nodes) {
		if(before.has(n.name)) out.push(before.get(n.name));
		if(replaced.has(n.name)) continue;
		out.push(rewritten.get(n.name) || n);
	}
	return out;
}

/* Only the nodes the outputs depend on, in the original order. */
function prune(nodes, outputs) {
	const byName = new Map(nodes.map((n) => [n.name, n]));
	const keep = new Set();
	const stack = outputs.slice();
	while(stack.length) {
		const name = stack.pop().replace(/^\^/, '').replace(/:\d+$/, '');
		if(keep.has(name)) continue;
		const n = byName.get(name);
		if(!n) throw new Error(`output or input '${name}' is not in the graph`);
		keep.add(name);
		for(const i of n.input || []) stack.push(i);
	}
	return nodes.filter((n) => keep.has(n.name));
}

function convert(modelPath, outPath, outputs) {
	const model = JSON.parse(fs.readFileSync(modelPath, 'utf8'));
	if(model.format !== 'graph-model') throw new Error(`${modelPath}: not a tfjs graph model (format ${model.format})`);
	const weights = readWeights(model, path.dirname(modelPath));
	let nodes = foldBiasAdds(unfuse(model.modelTopology.node), weights);
	if(outputs.length) nodes = prune(nodes, outputs);
	const parts = [];
	for(const n of nodes) {
		if(n.op === 'Const') {
			const w = weights.get(n.name);
			if(!w) throw new Error(`Const ${n.name} has no weight in the manifest`);
			/* value is an AttrValue whose field 8 is the tensor, passed as its bytes. */
			const attr = { dtype: { type: w.dtype }, value: fBytes(8, tensorProto(w.dtype, w.dims, w.content)) };
			parts.push(fBytes(1, nodeDef({ name: n.name, op: 'Const', attr })));
		} else {
			const attr = {};
			for(const [k, v] of Object.entries(n.attr || {}))
				if(!k.startsWith('_')) attr[k] = v;	/* grappler's private hints */
			parts.push(fBytes(1, nodeDef({ name: n.name, op: n.op, input: n.input, attr })));
		}
	}
	/* versions = 4 (VersionDef: producer = 1) */
	const producer = (model.modelTopology.versions && model.modelTopology.versions.producer) || 1;
	parts.push(fBytes(4, fVarint(1, producer)));
	fs.writeFileSync(outPath, Buffer.concat(parts));
	return nodes.length;
}

if(require.main === module) {
	const args = process.argv.slice(2);
	let outputs = [];
	const oi = args.indexOf('--outputs');
	if(oi >= 0) {
		outputs = args[oi + 1].split(',');
		args.splice(oi, 2);
	}
	if(args.length !== 2) {
		console.error('usage: tfjs2pb.js model.json out.pb [--outputs name,name]');
		process.exit(2);
	}
	try {
		const n = convert(args[0], args[1], outputs);
		console.error(`tfjs2pb: ${args[1]}: ${n} nodes`);
	} catch(e) {
		console.error(`tfjs2pb: ${e.message}`);
		process.exit(1);
	}
}

module.exports = { convert };
