//! Fast path for small dense models: a graph that is a single chain of
//! `Gemm` (or `MatMul` + `Add`) layers and `Relu` / `Sigmoid` / `Tanh`
//! activations, with every weight an initializer, is evaluated by this plain
//! loop over preallocated buffers instead of a tract plan (whose per-op output
//! allocations dominate at this size). Batch 1 only. Anything else: `None`,
//! and tract runs the model.

use tract_onnx::pb;

use crate::model::ModelError;

#[derive(Debug, Clone, PartialEq)]
enum Layer {
    /// `y = x · W + b`, `W` stored `[n_in][n_out]` so the inner loop runs over
    /// contiguous outputs (vectorises without reordering any sum).
    Affine {
        w: Vec<f32>,
        b: Vec<f32>,
        n_in: usize,
        n_out: usize,
    },
    Relu,
    Sigmoid,
    Tanh,
}

/// A compiled dense chain with its scratch buffers.
#[derive(Debug, Clone)]
pub(crate) struct DenseChain {
    layers: Vec<Layer>,
    pub(crate) n_in: usize,
    pub(crate) n_out: usize,
    a: Vec<f32>,
    b: Vec<f32>,
    /// Name of the graph's single output.
    pub(crate) output: String,
}

fn initializer<'p>(g: &'p pb::GraphProto, name: &str) -> Option<&'p pb::TensorProto> {
    g.initializer.iter().find(|t| t.name == name)
}

/// f32 data and dims of an initializer (raw or typed storage).
fn floats(t: &pb::TensorProto) -> Option<(Vec<f32>, Vec<usize>)> {
    if t.data_type != 1 {
        return None;
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).ok())
        .collect::<Option<_>>()?;
    let n: usize = dims.iter().product();
    let data: Vec<f32> = if !t.raw_data.is_empty() {
        if t.raw_data.len() != n * 4 {
            return None;
        }
        t.raw_data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    } else {
        t.float_data.clone()
    };
    (data.len() == n).then_some((data, dims))
}

fn attr_i(node: &pb::NodeProto, name: &str, default: i64) -> i64 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map_or(default, |a| a.i)
}

fn attr_f(node: &pb::NodeProto, name: &str, default: f32) -> f32 {
    node.attribute
        .iter()
        .find(|a| a.name == name)
        .map_or(default, |a| a.f)
}

/// `W` as `[n_in][n_out]` from a `[k, n]` matrix, transposing when `trans`.
fn weights(data: Vec<f32>, dims: &[usize], trans: bool) -> Option<(Vec<f32>, usize, usize)> {
    let [r, c] = dims else { return None };
    let (r, c) = (*r, *c);
    if !trans {
        return Some((data, r, c));
    }
    let mut t = vec![0.0; r * c];
    for i in 0..r {
        for j in 0..c {
            t[j * r + i] = data[i * c + j];
        }
    }
    Some((t, c, r))
}

fn bias(t: Option<&pb::TensorProto>, n_out: usize) -> Option<Vec<f32>> {
    match t {
        None => Some(vec![0.0; n_out]),
        Some(t) => {
            let (data, _) = floats(t)?;
            match data.len() {
                1 => Some(vec![data[0]; n_out]),
                n if n == n_out => Some(data),
                _ => None,
            }
        }
    }
}

impl DenseChain {
    /// Compiles `proto` when it is a pure dense chain; `None` otherwise.
    pub(crate) fn compile(proto: &pb::ModelProto) -> Option<DenseChain> {
        let g = proto.graph.as_ref()?;
        let inputs: Vec<&pb::ValueInfoProto> = g
            .input
            .iter()
            .filter(|i| initializer(g, &i.name).is_none())
            .collect();
        if inputs.len() != 1 || g.output.len() != 1 || g.node.is_empty() {
            return None;
        }
        let mut current = inputs[0].name.clone();
        let mut layers = Vec::new();
        let mut nodes = g.node.iter().peekable();
        let mut width: Option<usize> = None;
        while let Some(node) = nodes.next() {
            if !node.domain.is_empty()
                || node.input.first() != Some(&current)
                || node.output.len() != 1
            {
                return None;
            }
            match node.op_type.as_str() {
                "Gemm" => {
                    let ok = attr_i(node, "transA", 0) == 0
                        && attr_f(node, "alpha", 1.0) == 1.0
                        && attr_f(node, "beta", 1.0) == 1.0;
                    let (data, dims) = floats(initializer(g, node.input.get(1)?)?)?;
                    let (w, n_in, n_out) = weights(data, &dims, attr_i(node, "transB", 0) != 0)?;
                    let b = bias(node.input.get(2).and_then(|n| initializer(g, n)), n_out)?;
                    if !ok || width.is_some_and(|w| w != n_in) {
                        return None;
                    }
                    width = Some(n_out);
                    layers.push(Layer::Affine { w, b, n_in, n_out });
                }
                "MatMul" => {
                    let (data, dims) = floats(initializer(g, node.input.get(1)?)?)?;
                    let (w, n_in, n_out) = weights(data, &dims, false)?;
                    if width.is_some_and(|w| w != n_in) {
                        return None;
                    }
                    // A following Add of a constant is this layer's bias.
                    let mut b = vec![0.0; n_out];
                    let mut out = node.output[0].clone();
                    if let Some(add) = nodes.peek() {
                        if add.op_type == "Add" && add.input.len() == 2 && add.input[0] == out {
                            if let Some(t) = initializer(g, &add.input[1]) {
                                b = bias(Some(t), n_out)?;
                                out = add.output[0].clone();
                                nodes.next();
                            }
                        }
                    }
                    width = Some(n_out);
                    layers.push(Layer::Affine { w, b, n_in, n_out });
                    current = out;
                    continue;
                }
                "Relu" => layers.push(Layer::Relu),
                "Sigmoid" => layers.push(Layer::Sigmoid),
                "Tanh" => layers.push(Layer::Tanh),
                _ => return None,
            }
            current = node.output[0].clone();
        }
        if current != g.output[0].name {
            return None;
        }
        let n_in = match layers.first()? {
            Layer::Affine { n_in, .. } => *n_in,
            _ => return None,
        };
        let n_out = width?;
        let widest = layers
            .iter()
            .map(|l| match l {
                Layer::Affine { n_out, .. } => *n_out,
                _ => 0,
            })
            .max()
            .unwrap_or(0)
            .max(n_in);
        Some(DenseChain {
            layers,
            n_in,
            n_out,
            a: vec![0.0; widest],
            b: vec![0.0; widest],
            output: g.output[0].name.clone(),
        })
    }

    /// Evaluates one row; the result borrows the chain's buffer.
    pub(crate) fn run(&mut self, x: &[f32]) -> Result<&[f32], ModelError> {
        if x.len() != self.n_in {
            return Err(ModelError::Engine(format!(
                "dense model expects {} inputs, got {}",
                self.n_in,
                x.len()
            )));
        }
        let (mut cur, mut next) = (&mut self.a, &mut self.b);
        cur[..x.len()].copy_from_slice(x);
        let mut width = x.len();
        for layer in &self.layers {
            match layer {
                Layer::Affine { w, b, n_in, n_out } => {
                    let y = &mut next[..*n_out];
                    y.copy_from_slice(b);
                    for (xi, row) in cur[..*n_in].iter().zip(w.chunks_exact(*n_out)) {
                        for (yj, wij) in y.iter_mut().zip(row) {
                            *yj += xi * wij;
                        }
                    }
                    std::mem::swap(&mut cur, &mut next);
                    width = *n_out;
                }
                Layer::Relu => cur[..width].iter_mut().for_each(|v| *v = v.max(0.0)),
                Layer::Sigmoid => cur[..width]
                    .iter_mut()
                    .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
                Layer::Tanh => cur[..width].iter_mut().for_each(|v| *v = v.tanh()),
            }
        }
        Ok(&cur[..width])
    }
}
