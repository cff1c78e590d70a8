//! The Python exceptions, and how the runtime's errors become them.

use edgeintent::TraceError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    _native,
    EdgeIntentError,
    PyException,
    "Anything edgeintent refused; the message says what and what to do."
);
create_exception!(
    _native,
    ConfigError,
    EdgeIntentError,
    "The config is unusable."
);
create_exception!(
    _native,
    EventError,
    EdgeIntentError,
    "An event or trace line is invalid."
);
create_exception!(
    _native,
    ModelError,
    EdgeIntentError,
    "The model cannot be loaded or run."
);
create_exception!(
    _native,
    UpdateError,
    EdgeIntentError,
    "A live update was refused."
);
create_exception!(
    _native,
    InputError,
    EdgeIntentError,
    "An input (file, Arrow columns, array) cannot be used."
);

/// The Python exception for a runtime error, carrying its message.
pub(crate) fn to_py(e: impl Into<edgeintent_offline::Error>) -> PyErr {
    use edgeintent::Error as R;
    use edgeintent_offline::Error as E;
    let e = e.into();
    let msg = e.to_string();
    match e {
        E::Runtime(R::Config(_) | R::Spec(_)) => ConfigError::new_err(msg),
        E::Runtime(R::Model(_)) => ModelError::new_err(msg),
        E::Runtime(R::Event(_) | R::Trace(_)) | E::TraceFile { .. } => EventError::new_err(msg),
        E::Runtime(R::Update(_)) => UpdateError::new_err(msg),
        E::Io { .. } | E::NothingTo { .. } => InputError::new_err(msg),
        _ => EdgeIntentError::new_err(msg),
    }
}

pub(crate) fn input_err(msg: impl Into<String>) -> PyErr {
    InputError::new_err(msg.into())
}

/// An error made without the GIL, turned into a Python exception after.
pub(crate) enum PyErrText {
    Input(String),
    Runtime(edgeintent_offline::Error),
}

impl From<PyErrText> for PyErr {
    fn from(e: PyErrText) -> PyErr {
        match e {
            PyErrText::Input(m) => input_err(m),
            PyErrText::Runtime(e) => to_py(e),
        }
    }
}

pub(crate) fn in_user(e: TraceError, user: Option<&str>) -> edgeintent_offline::Error {
    match user {
        Some(u) => edgeintent_offline::Error::TraceFile {
            path: format!("user {u:?}"),
            source: e,
        },
        None => e.into(),
    }
}
