//! Recurrent cells stepped once per call (ONNX `GRU` and `LSTM`, forward,
//! batch 1, sequence 1): the state comes in as inputs and goes out in the
//! step's output slot, so the caller carries it. Weights are stored
//! transposed for [`affine`]; the gate scratch lives in the output slot, so a
//! step allocates nothing.

use serde::{Deserialize, Serialize};

use super::linalg::affine;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Weights of a GRU cell, laid out for [`affine`]: `[inputs][outputs]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GruCell {
    pub(crate) hidden: u32,
    /// Input weights of the z, r and h gates, `[E][3H]`, with their biases.
    pub(crate) w: Vec<f32>,
    pub(crate) wb: Vec<f32>,
    /// Recurrent weights of the z and r gates, `[H][2H]`, with their biases.
    pub(crate) r_zr: Vec<f32>,
    pub(crate) rb_zr: Vec<f32>,
    /// Recurrent weights of the h gate, `[H][H]`, with its bias.
    pub(crate) r_h: Vec<f32>,
    pub(crate) rb_h: Vec<f32>,
    /// `linear_before_reset`: the reset gate scales `R_h h + b` (PyTorch's
    /// form), else it scales `h` before the product (the ONNX default).
    pub(crate) linear_before_reset: bool,
}

impl GruCell {
    /// Width of the output slot: `[h (H) | x gates (3H) | state gates (2H) | H | H]`.
    pub(crate) fn slot_width(&self) -> usize {
        8 * self.hidden as usize
    }

    /// Whether the weights fit an input of `e` values.
    pub(super) fn fits(&self, e: usize) -> bool {
        let h = self.hidden as usize;
        h > 0
            && self.w.len() == e * 3 * h
            && self.wb.len() == 3 * h
            && self.r_zr.len() == h * 2 * h
            && self.rb_zr.len() == 2 * h
            && self.r_h.len() == h * h
            && self.rb_h.len() == h
    }

    /// `out[..H]` = the state after input `x` from state `h`.
    pub(super) fn step(&self, x: &[f32], h: &[f32], out: &mut [f32]) {
        let n = self.hidden as usize;
        let (new_h, rest) = out.split_at_mut(n);
        let (gx, rest) = rest.split_at_mut(3 * n);
        let (gh, rest) = rest.split_at_mut(2 * n);
        let (rh, hh) = rest.split_at_mut(n);
        affine(x, &self.w, &self.wb, gx);
        affine(h, &self.r_zr, &self.rb_zr, gh);
        // Reset gate first: the h gate needs it.
        for k in 0..n {
            rh[k] = sigmoid(gx[n + k] + gh[n + k]);
        }
        if self.linear_before_reset {
            affine(h, &self.r_h, &self.rb_h, hh);
            for k in 0..n {
                hh[k] *= rh[k];
            }
        } else {
            for k in 0..n {
                rh[k] *= h[k];
            }
            affine(rh, &self.r_h, &self.rb_h, hh);
        }
        for k in 0..n {
            let z = sigmoid(gx[k] + gh[k]);
            let cand = (gx[2 * n + k] + hh[k]).tanh();
            new_h[k] = (1.0 - z) * cand + z * h[k];
        }
    }
}

/// Weights of an LSTM cell, laid out for [`affine`]; gates in ONNX's order
/// (input, output, forget, cell).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LstmCell {
    pub(crate) hidden: u32,
    /// Input weights `[E][4H]` and their bias.
    pub(crate) w: Vec<f32>,
    pub(crate) wb: Vec<f32>,
    /// Recurrent weights `[H][4H]` and their bias.
    pub(crate) r: Vec<f32>,
    pub(crate) rb: Vec<f32>,
    /// Peephole weights of the input, output and forget gates (`3H`), or
    /// empty when the model has none.
    pub(crate) p: Vec<f32>,
}

impl LstmCell {
    /// Width of the output slot: `[h (H) | c (H) | x gates (4H) | state gates (4H)]`.
    pub(crate) fn slot_width(&self) -> usize {
        10 * self.hidden as usize
    }

    /// Whether the weights fit an input of `e` values.
    pub(super) fn fits(&self, e: usize) -> bool {
        let h = self.hidden as usize;
        h > 0
            && self.w.len() == e * 4 * h
            && self.wb.len() == 4 * h
            && self.r.len() == h * 4 * h
            && self.rb.len() == 4 * h
            && (self.p.is_empty() || self.p.len() == 3 * h)
    }

    /// `out[..H]` = the new `h`, `out[H..2H]` = the new `c`, after input `x`
    /// from states `h` and `c`.
    pub(super) fn step(&self, x: &[f32], h: &[f32], c: &[f32], out: &mut [f32]) {
        let n = self.hidden as usize;
        let (new_h, rest) = out.split_at_mut(n);
        let (new_c, rest) = rest.split_at_mut(n);
        let (gx, gh) = rest.split_at_mut(4 * n);
        affine(x, &self.w, &self.wb, gx);
        affine(h, &self.r, &self.rb, gh);
        let peep = |gate: usize, k: usize, c: f32| {
            if self.p.is_empty() {
                0.0
            } else {
                self.p[gate * n + k] * c
            }
        };
        // ONNX's gate blocks: i = 0, o = 1, f = 2, c = 3 (peepholes i, o, f).
        for k in 0..n {
            let g = |gate: usize| gx[gate * n + k] + gh[gate * n + k];
            let i = sigmoid(g(0) + peep(0, k, c[k]));
            let f = sigmoid(g(2) + peep(2, k, c[k]));
            let cell = f * c[k] + i * g(3).tanh();
            let o = sigmoid(g(1) + peep(1, k, cell));
            new_c[k] = cell;
            new_h[k] = o * cell.tanh();
        }
    }
}
