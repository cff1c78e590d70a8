//! Compiles an ONNX graph, pruned to one output, into a [`NativePlan`] when
//! every node it needs has a native kernel; otherwise says which node does
//! not, and tract runs the model. Reads the protobuf directly (tract parses
//! the tree ensembles, so both engines share one compiled form).

use std::collections::HashMap;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb;

use super::proto::GraphView;
use crate::model::native::post::PostTransform;
use crate::model::native::{
    Binary, GruCell, Kernel, LstmCell, NativePlan, Norm, Slot, Step, Unary, Weights,
};

/// Compiles `model` for a `[1, n_in]` f32 row on `input`, computing `output`.
pub(crate) fn compile(
    onnx: &tract_onnx::Onnx,
    model: &pb::ModelProto,
    input: &str,
    output: &str,
    n_in: usize,
) -> Result<NativePlan, String> {
    compile_multi(onnx, model, &[(input, n_in)], &[output]).map(|(plan, _)| plan)
}

/// Compiles `model` for rows on each of `inputs` (name, width), laid side by
/// side at the start of the arena in that order, computing `outputs`. The
/// plan's own output is the first; the slots of all of them are returned.
pub(crate) fn compile_multi(
    onnx: &tract_onnx::Onnx,
    model: &pb::ModelProto,
    inputs: &[(&str, usize)],
    outputs: &[&str],
) -> Result<(NativePlan, Vec<Slot>), String> {
    let g = model.graph.as_ref().ok_or("no graph")?;
    let view = GraphView::new(g);
    let declared: Vec<&str> = view.inputs().collect();
    let mut given: Vec<&str> = inputs.iter().map(|(n, _)| *n).collect();
    let mut sorted = declared.clone();
    sorted.sort_unstable();
    given.sort_unstable();
    if sorted != given {
        return Err(format!(
            "the graph's inputs are {}, not {}",
            declared.join(", "),
            inputs
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    // The nodes the outputs depend on, in file (topological) order.
    let producer: HashMap<&str, usize> = g
        .node
        .iter()
        .enumerate()
        .flat_map(|(i, n)| n.output.iter().map(move |o| (o.as_str(), i)))
        .collect();
    let mut needed = vec![false; g.node.len()];
    let mut stack = outputs.to_vec();
    while let Some(v) = stack.pop() {
        if let Some(&i) = producer.get(v) {
            if !needed[i] {
                needed[i] = true;
                stack.extend(g.node[i].input.iter().map(String::as_str));
            }
        }
    }
    let ctx = ParsingContext {
        onnx_operator_set_version: model
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(13, |o| o.version),
        framework: onnx,
        model,
        parent_graphs: vec![],
        model_dir: None,
        template: Default::default(),
    };
    let mut slots = HashMap::new();
    let mut n_in = 0;
    for (name, width) in inputs {
        slots.insert(
            (*name).to_owned(),
            Slot {
                offset: n_in as u32,
                len: *width as u32,
            },
        );
        n_in += width;
    }
    let mut c = Compiler {
        view,
        slots,
        ids: HashMap::new(),
        steps: Vec::new(),
        next: n_in,
    };
    for (i, node) in g.node.iter().enumerate() {
        if needed[i] {
            c.node(&ctx, node)
                .map_err(|why| format!("node `{}` ({}): {why}", node.name, node.op_type))?;
        }
    }
    let mut out_slots = Vec::with_capacity(outputs.len());
    for output in outputs {
        let out = *c
            .slots
            .get(*output)
            .ok_or_else(|| format!("`{output}` is not computed by the graph"))?;
        out_slots.push(if (out.offset as usize) < n_in {
            // The graph returns an input: copy it so that it has a step.
            c.push("output", Kernel::Copy, vec![out], out.len as usize)
        } else {
            out
        });
    }
    let plan = NativePlan::new(n_in, c.steps, out_slots[0], c.next)?;
    Ok((plan, out_slots))
}

struct Compiler<'a> {
    view: GraphView<'a>,
    slots: HashMap<String, Slot>,
    /// Float values cast to an integer type, usable only as `Gather` indices.
    ids: HashMap<String, Slot>,
    steps: Vec<Step>,
    next: usize,
}

fn attr<'n>(node: &'n pb::NodeProto, name: &str) -> Option<&'n pb::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn attr_s<'n>(node: &'n pb::NodeProto, name: &str) -> Option<&'n str> {
    attr(node, name).and_then(|a| std::str::from_utf8(&a.s).ok())
}

fn attr_i(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

fn attr_floats<'n>(node: &'n pb::NodeProto, name: &str) -> &'n [f32] {
    attr(node, name).map_or(&[], |a| a.floats.as_slice())
}

fn post_transform(node: &pb::NodeProto) -> Result<PostTransform, String> {
    let name = attr_s(node, "post_transform").unwrap_or("NONE");
    PostTransform::from_name(name).ok_or_else(|| format!("unknown post_transform {name}"))
}

/// `v` broadcast to `w` columns (one value, or exactly `w`).
fn broadcast(v: &[f32], w: usize) -> Result<Vec<f32>, String> {
    match v.len() {
        1 => Ok(vec![v[0]; w]),
        n if n == w => Ok(v.to_vec()),
        n => Err(format!("{n} values for a row of {w}")),
    }
}

/// As [`broadcast`], an absent (empty) attribute meaning `default` everywhere.
fn broadcast_or(v: &[f32], w: usize, default: f32) -> Result<Vec<f32>, String> {
    if v.is_empty() {
        Ok(vec![default; w])
    } else {
        broadcast(v, w)
    }
}

/// `[k][n]` row-major weights (k outputs of n inputs) as `[n][k]`.
fn transpose(w: &[f32], k: usize, n: usize) -> Vec<f32> {
    let mut t = vec![0.0; w.len()];
    for i in 0..k {
        for j in 0..n {
            t[j * k + i] = w[i * n + j];
        }
    }
    t
}

impl Compiler<'_> {
    fn push(&mut self, name: &str, kernel: Kernel, inputs: Vec<Slot>, width: usize) -> Slot {
        let output = Slot {
            offset: self.next as u32,
            len: width as u32,
        };
        self.next += width;
        self.steps.push(Step {
            kernel,
            inputs,
            output,
            name: name.to_owned(),
        });
        output
    }

    fn value(&self, name: &str) -> Result<Slot, String> {
        self.slots
            .get(name)
            .copied()
            .ok_or_else(|| format!("input `{name}` is not a value the executor computes"))
    }

    /// A constant that broadcasts against a row: shape `[]`, `[1]`, `[w]`, `[1, w]`.
    fn row_const(&self, name: &str) -> Option<Vec<f32>> {
        let (data, dims) = self.view.initializer_f32(name)?;
        let lead_ones = dims.len() <= 1 || dims[..dims.len() - 1].iter().all(|&d| d == 1);
        lead_ones.then_some(data)
    }

    /// One step of a forward GRU or LSTM from its initial state(s): the
    /// outputs (`Y` of one step, `Y_h`, and an LSTM's `Y_c`) are the new state.
    fn recurrent(&mut self, n: &pb::NodeProto, lstm: bool) -> Result<(), String> {
        let input = |k: usize| n.input.get(k).map(String::as_str).filter(|s| !s.is_empty());
        let x = self.value(input(0).ok_or("no input")?)?;
        let e = x.len as usize;
        let h_slot = self.value(input(5).ok_or("no initial h (the carried state)")?)?;
        let c_slot = match lstm {
            true => Some(self.value(input(6).ok_or("no initial c (the carried state)")?)?),
            false => None,
        };
        if input(4).is_some() {
            return Err("sequence_lens is not native".into());
        }
        let hidden = usize::try_from(attr_i(n, "hidden_size", 0))
            .ok()
            .filter(|&h| h > 0)
            .ok_or("no hidden_size")?;
        if attr_s(n, "direction").is_some_and(|d| d != "forward")
            || attr(n, "clip").is_some()
            || attr_i(n, "layout", 0) != 0
            || attr_i(n, "input_forget", 0) != 0
        {
            return Err(
                "only forward cells, without clip or input_forget, in the default layout".into(),
            );
        }
        let defaults: &[&[u8]] = match lstm {
            true => &[b"Sigmoid", b"Tanh", b"Tanh"],
            false => &[b"Sigmoid", b"Tanh"],
        };
        if let Some(a) = attr(n, "activations") {
            let names: Vec<&[u8]> = a.strings.iter().map(Vec::as_slice).collect();
            if names != defaults {
                return Err("activations other than the defaults (Sigmoid, Tanh)".into());
            }
        }
        if h_slot.len as usize != hidden || c_slot.is_some_and(|c| c.len as usize != hidden) {
            return Err(format!("a state of {} for {hidden} units", h_slot.len));
        }
        let weights = |k: usize, len: usize| -> Result<Vec<f32>, String> {
            let name = input(k).ok_or("missing weights")?;
            let (data, dims) = self
                .view
                .initializer_f32(name)
                .ok_or("the weights are not a float constant")?;
            if dims.iter().product::<usize>() != len || data.len() != len {
                return Err(format!("weights `{name}` {dims:?}, expected {len} values"));
            }
            Ok(data)
        };
        let gates = if lstm { 4 } else { 3 };
        let gh = gates * hidden;
        let w = transpose(&weights(1, gh * e)?, gh, e);
        let r = weights(2, gh * hidden)?;
        let b = match input(3) {
            Some(_) => weights(3, 2 * gh)?,
            None => vec![0.0; 2 * gh],
        };
        let (kernel, width, outs) = if let Some(c_slot) = c_slot {
            let cell = LstmCell {
                hidden: hidden as u32,
                w,
                wb: b[..gh].to_vec(),
                r: transpose(&r, gh, hidden),
                rb: b[gh..].to_vec(),
                p: match input(7) {
                    Some(_) => weights(7, 3 * hidden)?,
                    None => Vec::new(),
                },
            };
            let width = cell.slot_width();
            let kernel = Kernel::Lstm(Box::new(cell));
            (kernel, width, vec![x, h_slot, c_slot])
        } else {
            let h2 = 2 * hidden;
            let cell = GruCell {
                hidden: hidden as u32,
                w,
                wb: b[..gh].to_vec(),
                r_zr: transpose(&r[..h2 * hidden], h2, hidden),
                rb_zr: b[gh..gh + h2].to_vec(),
                r_h: transpose(&r[h2 * hidden..], hidden, hidden),
                rb_h: b[gh + h2..].to_vec(),
                linear_before_reset: attr_i(n, "linear_before_reset", 0) != 0,
            };
            let width = cell.slot_width();
            (Kernel::Gru(Box::new(cell)), width, vec![x, h_slot])
        };
        let slot = self.push(&n.name, kernel, outs, width);
        let state = |k: u32| Slot {
            offset: slot.offset + k * hidden as u32,
            len: hidden as u32,
        };
        // Y (one step) and Y_h are the new h; an LSTM's Y_c its new c.
        for (k, out) in n.output.iter().enumerate().filter(|(_, o)| !o.is_empty()) {
            self.slots.insert(out.clone(), state(u32::from(k == 2)));
        }
        Ok(())
    }

    fn node(&mut self, ctx: &ParsingContext, n: &pb::NodeProto) -> Result<(), String> {
        let op = n.op_type.as_str();
        let ml = n.domain == "ai.onnx.ml";
        if !(n.domain.is_empty() || n.domain == "ai.onnx" || ml) {
            return Err(format!("domain {} is not native", n.domain));
        }
        let name = n.name.as_str();
        let first = n.input.first().map(String::as_str).unwrap_or("");
        let out_name = |k: usize| n.output.get(k).cloned().unwrap_or_default();
        // (kernel, inputs, width, which output it computes)
        let (kernel, inputs, width, out_ix): (Kernel, Vec<Slot>, usize, usize) = match (ml, op) {
            (true, "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble") => {
                let x = self.value(first)?;
                let e =
                    crate::model::ops::compile_ensemble(ctx, n).map_err(|e| format!("{e:#}"))?;
                if e.n_features > x.len as usize {
                    return Err(format!(
                        "reads feature {} of a row of {}",
                        e.n_features - 1,
                        x.len
                    ));
                }
                let w = e.score_width();
                let ix = usize::from(op == "TreeEnsembleClassifier");
                (Kernel::Trees(Box::new(e)), vec![x], w, ix)
            }
            (true, "LinearClassifier") => {
                let x = self.value(first)?;
                let f = x.len as usize;
                let coef = attr_floats(n, "coefficients");
                let b = attr_floats(n, "intercepts").to_vec();
                let labels = attr(n, "classlabels_ints")
                    .map(|a| a.ints.len())
                    .filter(|&l| l > 0)
                    .or_else(|| attr(n, "classlabels_strings").map(|a| a.strings.len()))
                    .unwrap_or(0);
                let k = b.len();
                if k == 0 || coef.len() != k * f {
                    return Err(format!(
                        "{} coefficients and {k} intercepts for {f} features",
                        coef.len()
                    ));
                }
                let second_class = k == 1 && labels == 2;
                let kernel = Kernel::LinearClassifier {
                    affine: Weights {
                        w: transpose(coef, k, f),
                        b,
                    },
                    post: post_transform(n)?,
                    second_class,
                };
                (kernel, vec![x], if second_class { 2 } else { k }, 1)
            }
            (true, "LinearRegressor") => {
                let x = self.value(first)?;
                let f = x.len as usize;
                let k = usize::try_from(attr_i(n, "targets", 1)).map_err(|_| "negative targets")?;
                let coef = attr_floats(n, "coefficients");
                let b = match attr_floats(n, "intercepts") {
                    [] => vec![0.0; k],
                    v => v.to_vec(),
                };
                if k == 0 || coef.len() != k * f || b.len() != k {
                    return Err(format!(
                        "{} coefficients and {} intercepts for {k} targets of {f} features",
                        coef.len(),
                        b.len()
                    ));
                }
                let kernel = Kernel::LinearRegressor {
                    affine: Weights {
                        w: transpose(coef, k, f),
                        b,
                    },
                    post: post_transform(n)?,
                };
                (kernel, vec![x], k, 0)
            }
            (true, "Scaler") => {
                let x = self.value(first)?;
                let w = x.len as usize;
                let offset = broadcast_or(attr_floats(n, "offset"), w, 0.0)?;
                let scale = broadcast_or(attr_floats(n, "scale"), w, 1.0)?;
                (Kernel::Scaler { offset, scale }, vec![x], w, 0)
            }
            (true, "Normalizer") => {
                let x = self.value(first)?;
                let norm = match attr_s(n, "norm").unwrap_or("MAX") {
                    "MAX" => Norm::Max,
                    "L1" => Norm::L1,
                    "L2" => Norm::L2,
                    other => return Err(format!("unknown norm {other}")),
                };
                (Kernel::Normalizer(norm), vec![x], x.len as usize, 0)
            }
            (true, "Imputer") => {
                let x = self.value(first)?;
                let w = x.len as usize;
                if attr(n, "imputed_value_int64s").is_some_and(|a| !a.ints.is_empty()) {
                    return Err("integer imputation is not native".into());
                }
                let imputed = broadcast(attr_floats(n, "imputed_value_floats"), w)?;
                let replaced = attr_f(n, "replaced_value_float", 0.0);
                (Kernel::Imputer { imputed, replaced }, vec![x], w, 0)
            }
            (true, "Binarizer") => {
                let x = self.value(first)?;
                (
                    Kernel::Binarizer(attr_f(n, "threshold", 0.0)),
                    vec![x],
                    x.len as usize,
                    0,
                )
            }
            (true, "ZipMap") => {
                let x = self.value(first)?;
                (Kernel::Copy, vec![x], x.len as usize, 0)
            }
            (true, "ArrayFeatureExtractor") => {
                let x = self.value(first)?;
                let idx = n.input.get(1).ok_or("no indices")?;
                let ix = self
                    .view
                    .initializer_i64(idx)
                    .ok_or("the indices are not a constant")?;
                let ix = ix
                    .iter()
                    .map(|&i| u32::try_from(i).ok().filter(|&i| i < x.len))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or("an index is out of range")?;
                let w = ix.len();
                (Kernel::Gather(ix), vec![x], w, 0)
            }
            (false, "Identity" | "Flatten") => {
                if op == "Flatten" && attr_i(n, "axis", 1) != 1 {
                    return Err("Flatten other than axis 1".into());
                }
                let x = self.value(first)?;
                (Kernel::Copy, vec![x], x.len as usize, 0)
            }
            (false, "Cast") => {
                let x = self.value(first)?;
                match attr_i(n, "to", 0) {
                    1 => (Kernel::Copy, vec![x], x.len as usize, 0),
                    // INT32 and INT64: indices of a lookup, nothing else.
                    6 | 7 => {
                        self.ids.insert(out_name(0), x);
                        return Ok(());
                    }
                    _ => return Err("a cast to a type other than float or an index".into()),
                }
            }
            (false, "Gather") => {
                let (data, ids) = match n.input.as_slice() {
                    [d, i] => (d, i),
                    _ => return Err("needs data and indices".into()),
                };
                let x = *self
                    .ids
                    .get(ids)
                    .ok_or("the indices are not one float value cast to an integer")?;
                if x.len != 1 || attr_i(n, "axis", 0) != 0 {
                    return Err("only one lookup on axis 0 is native".into());
                }
                let (table, dims) = self
                    .view
                    .initializer_f32(data)
                    .ok_or("the table is not a float constant")?;
                let [rows, width] = dims[..] else {
                    return Err(format!("a table of rank {}", dims.len()));
                };
                if rows == 0 || width == 0 {
                    return Err("an empty table".into());
                }
                (Kernel::Embed { table }, vec![x], width, 0)
            }
            (false, "GRU") => return self.recurrent(n, false),
            (false, "LSTM") => return self.recurrent(n, true),
            (false, "Reshape") => {
                let x = self.value(first)?;
                let shape = n
                    .input
                    .get(1)
                    .and_then(|s| self.view.initializer_i64(s))
                    .ok_or("the shape is not a constant")?;
                // A row stays a row: [-1, w], [1, w], [w], [-1] or [1, -1].
                let w = i64::from(x.len);
                let row = matches!(shape.as_slice(), [a, b] if (*a == -1 || *a == 1 || *a == 0) && (*b == w || (*b == -1 && *a != -1)))
                    || matches!(shape.as_slice(), [a] if *a == w || *a == -1);
                if !row {
                    return Err(format!("reshape to {shape:?} is not a row of {w}"));
                }
                (Kernel::Copy, vec![x], x.len as usize, 0)
            }
            (
                false,
                "Relu" | "Sigmoid" | "Tanh" | "Exp" | "Log" | "Abs" | "Neg" | "Sqrt" | "Reciprocal",
            ) => {
                let x = self.value(first)?;
                let f = match op {
                    "Relu" => Unary::Relu,
                    "Sigmoid" => Unary::Sigmoid,
                    "Tanh" => Unary::Tanh,
                    "Exp" => Unary::Exp,
                    "Log" => Unary::Log,
                    "Abs" => Unary::Abs,
                    "Neg" => Unary::Neg,
                    "Sqrt" => Unary::Sqrt,
                    _ => Unary::Reciprocal,
                };
                (Kernel::Unary(f), vec![x], x.len as usize, 0)
            }
            (false, "Softmax") => {
                let axis = attr_i(
                    n,
                    "axis",
                    if ctx.onnx_operator_set_version >= 13 {
                        -1
                    } else {
                        1
                    },
                );
                if axis != -1 && axis != 1 {
                    return Err(format!("softmax over axis {axis}"));
                }
                let x = self.value(first)?;
                (Kernel::Softmax, vec![x], x.len as usize, 0)
            }
            (false, "Add" | "Sub" | "Mul" | "Div" | "Max" | "Min") => {
                let b = match op {
                    "Add" => Binary::Add,
                    "Sub" => Binary::Sub,
                    "Mul" => Binary::Mul,
                    "Div" => Binary::Div,
                    "Max" => Binary::Max,
                    _ => Binary::Min,
                };
                let [l, r] = n.input.as_slice() else {
                    return Err("needs two inputs".into());
                };
                match (self.slots.get(l).copied(), self.slots.get(r).copied()) {
                    (Some(a), Some(c)) => {
                        let w = a.len.max(c.len);
                        if (a.len != w && a.len != 1) || (c.len != w && c.len != 1) {
                            return Err(format!("widths {} and {} do not broadcast", a.len, c.len));
                        }
                        (Kernel::BinaryValues(b), vec![a, c], w as usize, 0)
                    }
                    (Some(a), None) => {
                        let c = self
                            .row_const(r)
                            .ok_or("the constant does not broadcast to a row")?;
                        let c = broadcast(&c, a.len as usize)?;
                        (
                            Kernel::BinaryConst {
                                op: b,
                                c,
                                const_first: false,
                            },
                            vec![a],
                            a.len as usize,
                            0,
                        )
                    }
                    (None, Some(a)) => {
                        let c = self
                            .row_const(l)
                            .ok_or("the constant does not broadcast to a row")?;
                        let c = broadcast(&c, a.len as usize)?;
                        (
                            Kernel::BinaryConst {
                                op: b,
                                c,
                                const_first: true,
                            },
                            vec![a],
                            a.len as usize,
                            0,
                        )
                    }
                    (None, None) => return Err("both inputs are constants".into()),
                }
            }
            (false, "MatMul" | "Gemm") => {
                let x = self.value(first)?;
                let f = x.len as usize;
                let wname = n.input.get(1).ok_or("no weights")?;
                let (data, dims) = self
                    .view
                    .initializer_f32(wname)
                    .ok_or("the weights are not a float constant")?;
                let [r, c] = dims[..] else {
                    return Err(format!("weights of rank {}", dims.len()));
                };
                let gemm = op == "Gemm";
                if gemm && attr_i(n, "transA", 0) != 0 {
                    return Err("transA".into());
                }
                let trans_b = gemm && attr_i(n, "transB", 0) != 0;
                let (mut w, k_in, k_out) = if trans_b {
                    (transpose(&data, r, c), c, r)
                } else {
                    (data, r, c)
                };
                if k_in != f {
                    return Err(format!("weights for {k_in} inputs on a row of {f}"));
                }
                let (alpha, beta) = if gemm {
                    (attr_f(n, "alpha", 1.0), attr_f(n, "beta", 1.0))
                } else {
                    (1.0, 1.0)
                };
                if alpha != 1.0 {
                    w.iter_mut().for_each(|v| *v *= alpha);
                }
                let b = match n.input.get(2).filter(|s| gemm && !s.is_empty()) {
                    None => vec![0.0; k_out],
                    Some(bn) => {
                        let b = self.row_const(bn).ok_or("the bias is not a row constant")?;
                        broadcast(&b, k_out)?
                            .into_iter()
                            .map(|v| v * beta)
                            .collect()
                    }
                };
                (Kernel::Affine { w, b }, vec![x], k_out, 0)
            }
            (false, "Concat") => {
                let axis = attr_i(n, "axis", 1);
                if axis != 1 && axis != -1 {
                    return Err(format!("concat on axis {axis}"));
                }
                let ins = n
                    .input
                    .iter()
                    .map(|i| self.value(i))
                    .collect::<Result<Vec<_>, _>>()?;
                let w = ins.iter().map(|s| s.len as usize).sum();
                (Kernel::Concat, ins, w, 0)
            }
            _ => return Err("no native kernel".into()),
        };
        // Outputs other than the computed one must be unused (pruned).
        let slot = self.push(name, kernel, inputs, width);
        self.slots.insert(out_name(out_ix), slot);
        Ok(())
    }
}
