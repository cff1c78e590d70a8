//! Caught panics: the text a panic carried, for the error that reports it.
//! Every boundary that catches one (tract loads, native runs, the C ABI)
//! words it the same way.

use std::any::Any;

/// The message a caught panic carried ("unknown panic" when it was not text).
pub(crate) fn message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
