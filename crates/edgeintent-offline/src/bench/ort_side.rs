//! The ONNX Runtime side of `bench` (cargo feature `ort-compare`): the library
//! is opened at run time (`load-dynamic`) from the `onnxruntime` wheel, one
//! intra-op thread, like tract.

use std::path::Path;
use std::time::Instant;

use ort::session::Session;
use ort::value::TensorRef;

use crate::error::Error;
use crate::error::OfflineError;
use edgeintent::{OnnxGraph, OutputValues};

fn ort_err<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> Error {
    move |e| {
        OfflineError::Ort {
            what,
            why: e.to_string(),
        }
        .into()
    }
}

/// Session inputs by name, in graph order.
fn inputs_of<'i, 'v: 'i>(
    names: &[String],
    values: Vec<TensorRef<'v, f32>>,
) -> ort::session::SessionInputs<'i, 'v> {
    names
        .iter()
        .map(|n| std::borrow::Cow::<'i, str>::Owned(n.clone()))
        .zip(values)
        .map(|(n, v)| (n, ort::session::SessionInputValue::from(v)))
        .collect::<Vec<_>>()
        .into()
}

/// A loaded ONNX Runtime session for one fixed input shape.
pub(crate) struct OrtSide {
    session: Session,
    names: Vec<String>,
    shapes: Vec<Vec<usize>>,
    /// Time to create the session (ms).
    pub(crate) load_ms: f64,
}

impl OrtSide {
    pub(crate) fn load(lib: &Path, model: &Path, shapes: &[Vec<usize>]) -> Result<OrtSide, Error> {
        if !lib.exists() {
            return Err(OfflineError::OrtLibMissing {
                path: lib.to_owned(),
            }
            .into());
        }
        let env = ort::init_from(lib)
            .map_err(ort_err("loading the library"))?
            .build()
            .map_err(ort_err("environment"))?;
        let started = Instant::now();
        let session = Session::builder(&env)
            .map_err(ort_err("session builder"))?
            .with_intra_threads(1)
            .map_err(ort_err("threads"))?
            .commit_from_file(model)
            .map_err(ort_err("load model"))?;
        let names = session
            .inputs()
            .iter()
            .map(|i| i.name().to_owned())
            .collect();
        Ok(OrtSide {
            session,
            names,
            shapes: shapes.to_vec(),
            load_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    fn inputs<'a>(&self, xs: &[&'a [f32]]) -> Result<Vec<TensorRef<'a, f32>>, Error> {
        self.shapes
            .iter()
            .zip(xs)
            .map(|(shape, x)| {
                let view =
                    ndarray::ArrayViewD::from_shape(ndarray::IxDyn(shape), x).map_err(|e| {
                        Error::from(OfflineError::Ort {
                            what: "input shape",
                            why: e.to_string(),
                        })
                    })?;
                TensorRef::from_array_view(view).map_err(ort_err("input tensor"))
            })
            .collect()
    }

    /// One untimed run.
    pub(crate) fn run(&mut self, x: &[&[f32]]) -> Result<(), Error> {
        self.timed_run(x).map(|_| ())
    }

    /// One run; returns its wall time in ns (input wrapping included, as tract's
    /// side includes copying the input into its tensor).
    pub(crate) fn timed_run(&mut self, x: &[&[f32]]) -> Result<u64, Error> {
        let started = Instant::now();
        let inputs = self.inputs(x)?;
        let out = self
            .session
            .run(inputs_of(&self.names, inputs))
            .map_err(ort_err("run"))?;
        drop(out);
        Ok(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Runs both engines once; returns the largest absolute difference over
    /// every output both can express as a tensor, and those outputs' names.
    pub(crate) fn compare(
        &mut self,
        graph: &mut OnnxGraph,
        x: &[&[f32]],
    ) -> Result<(Option<f64>, Vec<String>), Error> {
        let ours = graph.run_inputs(x)?;
        let inputs = self.inputs(x)?;
        let theirs = self
            .session
            .run(inputs_of(&self.names, inputs))
            .map_err(ort_err("run"))?;
        let mut worst: Option<f64> = None;
        let mut names = Vec::new();
        for (name, value) in theirs.iter() {
            let Some(mine) = ours.iter().find(|o| o.name == name) else {
                continue;
            };
            let diff = match (
                &mine.values,
                value.try_extract_tensor::<f32>(),
                value.try_extract_tensor::<i64>(),
            ) {
                (OutputValues::Float(a), Ok((_, b)), _) if a.len() == b.len() => a
                    .iter()
                    .zip(b)
                    .map(|(a, b)| (a - f64::from(*b)).abs())
                    .fold(0.0, f64::max),
                (OutputValues::Int(a), _, Ok((_, b))) if a.len() == b.len() => {
                    if a.as_slice() == b {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                }
                // Sequence-of-map outputs (ZipMap) cannot be read as tensors here.
                _ => continue,
            };
            names.push(name.to_owned());
            worst = Some(worst.map_or(diff, |w: f64| w.max(diff)));
        }
        Ok((worst, names))
    }
}
