//! The JNI entry points of `bindings/java` (`dev.edgeintent.EdgeIntent`), a
//! thin layer over the same operations as the C functions: a Java exception
//! (`EdgeIntentException`, carrying the C error code and message) wherever C
//! returns a negative code, and no panic across the boundary.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use jni::objects::{JByteArray, JClass, JString, JThrowable, JValue};
use jni::sys::{jboolean, jdouble, jint, jlong, jstring};
use jni::JNIEnv;

use crate::boundary::{clear_error, set_error, LAST_ERROR};
use crate::codes::{EI_ABI_VERSION, EI_ERR_INTERNAL, EI_ERR_NULL};
use crate::handle::{handle, EiRuntime};

const EXCEPTION: &str = "dev/edgeintent/EdgeIntentException";

/// `Long.MIN_VALUE`: what `nativeNextWakeup` returns when nothing is due.
const NO_WAKEUP: jlong = jlong::MIN;

/// Throws an `EdgeIntentException` with `code` and this thread's last error.
fn throw(env: &mut JNIEnv<'_>, code: c_int) {
    let msg = LAST_ERROR.with(|e| e.borrow().to_string_lossy().into_owned());
    let Ok(jmsg) = env.new_string(&msg) else {
        return; // an OutOfMemoryError is pending instead
    };
    let built = env.new_object(
        EXCEPTION,
        "(Ljava/lang/String;I)V",
        &[JValue::Object(&jmsg), JValue::Int(code)],
    );
    match built {
        Ok(e) => {
            let _ = env.throw(JThrowable::from(e));
        }
        Err(_) => {
            let _ = env.throw_new("java/lang/IllegalStateException", msg);
        }
    }
}

/// Runs `f`; an error code or a caught panic becomes a pending Java exception
/// and `on_error` is returned.
fn run<T>(
    env: &mut JNIEnv<'_>,
    on_error: T,
    f: impl FnOnce(&mut JNIEnv<'_>) -> Result<T, c_int>,
) -> T {
    clear_error();
    let code = match catch_unwind(AssertUnwindSafe(|| f(env))) {
        Ok(Ok(v)) => return v,
        Ok(Err(code)) => code,
        Err(_) => {
            set_error("internal error (please report): a panic in the JNI layer");
            EI_ERR_INTERNAL
        }
    };
    throw(env, code);
    on_error
}

/// The handle behind a `long` from `nativeCreate`.
fn live<'a>(h: jlong) -> Result<&'a EiRuntime, c_int> {
    // SAFETY: the Java class passes only handles from nativeCreate, and its
    // read-write lock keeps nativeFree from running while any other call does.
    unsafe { handle(h as *const EiRuntime) }
}

fn string(env: &mut JNIEnv<'_>, s: &JString<'_>, name: &str) -> Result<String, c_int> {
    if s.is_null() {
        set_error(format!("{name} is null"));
        return Err(EI_ERR_NULL);
    }
    env.get_string(s).map(String::from).map_err(|e| {
        set_error(format!("{name}: {e}"));
        EI_ERR_INTERNAL
    })
}

fn jstr(env: &mut JNIEnv<'_>, s: &str) -> Result<jstring, c_int> {
    env.new_string(s).map(|j| j.into_raw()).map_err(|e| {
        set_error(format!("cannot make a Java string: {e}"));
        EI_ERR_INTERNAL
    })
}

/// `EdgeIntent.nativeCreate(String configJson, String userId)`; `userId` may be null.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeCreate<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    config: JString<'l>,
    user_id: JString<'l>,
) -> jlong {
    run(&mut env, 0, |env| {
        let text = string(env, &config, "configJson")?;
        let user = if user_id.is_null() {
            None
        } else {
            Some(string(env, &user_id, "userId")?)
        };
        EiRuntime::create(&text, user.as_deref()).map(|h| Box::into_raw(Box::new(h)) as jlong)
    })
}

/// `EdgeIntent.nativeUpdate(long handle, byte[] pkg, boolean model)`: 1 in
/// force, 0 kept for another roll-out arm.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeUpdate<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    pkg: JByteArray<'l>,
    model: jboolean,
) -> jint {
    run(&mut env, 0, |env| {
        if pkg.is_null() {
            set_error("pkg is null");
            return Err(EI_ERR_NULL);
        }
        let bytes = env.convert_byte_array(&pkg).map_err(|e| {
            set_error(format!("pkg: {e}"));
            EI_ERR_INTERNAL
        })?;
        let kind = if model != 0 {
            edgeintent::update::UpdateKind::Model
        } else {
            edgeintent::update::UpdateKind::Config
        };
        live(h)?.update(kind, &bytes)
    })
}

/// `EdgeIntent.nativePush(long handle, String eventJson)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativePush<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    event: JString<'l>,
) {
    run(&mut env, (), |env| {
        let json = string(env, &event, "eventJson")?;
        live(h)?.push_json(&json)
    })
}

/// `EdgeIntent.nativePoll(long handle)`: the next decision, or null.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativePoll<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jstring {
    run(&mut env, std::ptr::null_mut(), |env| {
        match live(h)?.poll_with(|line| (line, None))? {
            None => Ok(std::ptr::null_mut()),
            Some(line) => jstr(env, &line.to_string_lossy()),
        }
    })
}

/// `EdgeIntent.nativeTick(long handle, long nowMs)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeTick<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    now_ms: jlong,
) {
    run(&mut env, (), |_| live(h)?.tick(now_ms))
}

/// `EdgeIntent.nativeNextWakeup(long handle)`: ms, or `Long.MIN_VALUE`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeNextWakeup<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jlong {
    run(&mut env, NO_WAKEUP, |_| {
        Ok(live(h)?.next_wakeup_ms().unwrap_or(NO_WAKEUP))
    })
}

/// `EdgeIntent.nativeSetCoverage(long handle, double lat, double lon, double radiusM)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeSetCoverage<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    lat: jdouble,
    lon: jdouble,
    radius_m: jdouble,
) {
    run(&mut env, (), |_| live(h)?.set_coverage(lat, lon, radius_m))
}

/// A call with a path on a live handle.
fn with_path(
    env: &mut JNIEnv<'_>,
    h: jlong,
    path: &JString<'_>,
    f: impl FnOnce(&EiRuntime, &str) -> Result<(), c_int>,
) {
    run(env, (), |env| {
        let path = string(env, path, "path")?;
        f(live(h)?, &path)
    })
}

/// `EdgeIntent.nativeSnapshotSave(long handle, String path)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeSnapshotSave<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    path: JString<'l>,
) {
    with_path(&mut env, h, &path, EiRuntime::save)
}

/// `EdgeIntent.nativeSnapshotLoad(long handle, String path)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeSnapshotLoad<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
    path: JString<'l>,
) {
    with_path(&mut env, h, &path, EiRuntime::load)
}

/// `EdgeIntent.nativeStats(long handle)`: the counters as JSON.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeStats<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) -> jstring {
    run(&mut env, std::ptr::null_mut(), |env| {
        let json = live(h)?.stats_json();
        jstr(env, &json.to_string_lossy())
    })
}

/// `EdgeIntent.nativeFree(long handle)`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeFree<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    h: jlong,
) {
    run(&mut env, (), |_| {
        // SAFETY: a handle from nativeCreate, freed once (the Java class
        // clears it under its write lock).
        unsafe { crate::handle::free(h as *mut EiRuntime) };
        Ok(())
    })
}

/// `EdgeIntent.nativeVersion()`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeVersion<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jstring {
    run(&mut env, std::ptr::null_mut(), |env| {
        jstr(env, env!("CARGO_PKG_VERSION"))
    })
}

/// `EdgeIntent.nativeAbiVersion()`.
#[no_mangle]
pub extern "system" fn Java_dev_edgeintent_EdgeIntent_nativeAbiVersion<'l>(
    _env: JNIEnv<'l>,
    _class: JClass<'l>,
) -> jint {
    EI_ABI_VERSION
}
