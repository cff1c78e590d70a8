//! Fast path for small dense models: a graph that is a single chain of
//! `Gemm` (or `MatMul` + `Add`) layers and `Relu` / `Sigmoid` / `Tanh`
//! activations, with every weight an initializer, is evaluated by this plain
//! loop over preallocated buffers instead of a tract plan (whose per-op output
//! allocations dominate at this size). Batch 1 only. Anything else: `None`,
//! and tract runs the model.

use super::engine::GraphView;
use super::ModelError;

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

fn bias(data: Option<Vec<f32>>, n_out: usize) -> Option<Vec<f32>> {
    match data {
        None => Some(vec![0.0; n_out]),
        Some(data) => match data.len() {
            1 => Some(vec![data[0]; n_out]),
            n if n == n_out => Some(data),
            _ => None,
        },
    }
}

impl DenseChain {
    /// Compiles `g` when it is a pure dense chain; `None` otherwise.
    pub(crate) fn compile(g: GraphView<'_>) -> Option<DenseChain> {
        let inputs: Vec<&str> = g.inputs().collect();
        let outputs: Vec<&str> = g.outputs().collect();
        if inputs.len() != 1 || outputs.len() != 1 || g.nodes().next().is_none() {
            return None;
        }
        let mut current = inputs[0].to_owned();
        let mut layers = Vec::new();
        let mut nodes = g.nodes().peekable();
        let mut width: Option<usize> = None;
        while let Some(node) = nodes.next() {
            if !node.domain().is_empty()
                || node.inputs().first() != Some(&current)
                || node.outputs().len() != 1
            {
                return None;
            }
            match node.op() {
                "Gemm" => {
                    let ok = node.attr_i("transA", 0) == 0
                        && node.attr_f("alpha", 1.0) == 1.0
                        && node.attr_f("beta", 1.0) == 1.0;
                    let (data, dims) = g.initializer_f32(node.inputs().get(1)?)?;
                    let (w, n_in, n_out) = weights(data, &dims, node.attr_i("transB", 0) != 0)?;
                    let b = match node.inputs().get(2) {
                        Some(n) => bias(Some(g.initializer_f32(n)?.0), n_out)?,
                        None => bias(None, n_out)?,
                    };
                    if !ok || width.is_some_and(|w| w != n_in) {
                        return None;
                    }
                    width = Some(n_out);
                    layers.push(Layer::Affine { w, b, n_in, n_out });
                }
                "MatMul" => {
                    let (data, dims) = g.initializer_f32(node.inputs().get(1)?)?;
                    let (w, n_in, n_out) = weights(data, &dims, false)?;
                    if width.is_some_and(|w| w != n_in) {
                        return None;
                    }
                    // A following Add of a constant is this layer's bias.
                    let mut b = vec![0.0; n_out];
                    let mut out = node.outputs()[0].clone();
                    if let Some(add) = nodes.peek() {
                        let ins = add.inputs();
                        if add.op() == "Add" && ins.len() == 2 && ins[0] == out {
                            if let Some((data, _)) = g.initializer_f32(&ins[1]) {
                                b = bias(Some(data), n_out)?;
                                out = add.outputs().first()?.clone();
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
            current = node.outputs()[0].clone();
        }
        if current != outputs[0] {
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
            output: outputs[0].to_owned(),
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
