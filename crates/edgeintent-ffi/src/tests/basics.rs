//! Calls on the C ABI from Rust: NULL and bad input are errors, not crashes.

use crate::*;

fn last_error() -> String {
    // SAFETY: ei_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(ei_last_error()) }
        .to_string_lossy()
        .into_owned()
}

const CONFIG: &CStr =
    c"{\"features\":{\"version\":\"t\",\"features\":[{\"name\":\"v\",\"kind\":\"home_visible\"}]}}";

#[test]
fn null_and_bad_input_are_errors_not_crashes() {
    // SAFETY: every pointer is NULL, a live handle, or a valid C string.
    unsafe {
        assert!(ei_runtime_new(std::ptr::null()).is_null());
        assert!(last_error().contains("NULL"));
        assert!(ei_runtime_new(c"{not json".as_ptr()).is_null());
        assert!(last_error().contains("config"), "{}", last_error());
        assert_eq!(ei_push_json(std::ptr::null(), c"{}".as_ptr()), EI_ERR_NULL);
        let rt = ei_runtime_new(CONFIG.as_ptr());
        assert!(!rt.is_null(), "{}", last_error());
        assert_eq!(ei_push_json(rt, std::ptr::null()), EI_ERR_NULL);
        let bad_utf8 = [0xffu8, 0xfe, 0];
        assert_eq!(ei_push_json(rt, bad_utf8.as_ptr().cast()), EI_ERR_UTF8);
        assert_eq!(
            ei_push_json(
                rt,
                c"{\"ts_ms\":1,\"type\":\"location\",\"lat\":91,\"lon\":0,\"accuracy_m\":1}"
                    .as_ptr()
            ),
            EI_ERR_EVENT
        );
        assert!(last_error().contains("lat"), "{}", last_error());
        assert_eq!(
            ei_push_json(rt, c"{\"ts_ms\":1,\"type\":\"teleport\"}".as_ptr()),
            0
        );
        assert_eq!(
            ei_push_json(rt, c"{\"ts_ms\":2,\"type\":\"app_foreground\"}".as_ptr()),
            0
        );
        // Too small: the needed size, and the decision is kept.
        let mut small = [0 as c_char; 8];
        let needed = ei_poll_decision(rt, small.as_mut_ptr(), small.len());
        assert!(needed < -8, "{needed}");
        let mut buf = vec![0 as c_char; (-needed) as usize];
        assert_eq!(ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 1);
        let line = CStr::from_ptr(buf.as_ptr()).to_str().unwrap();
        assert_eq!(
            line,
            r#"{"ts_ms":2,"action":"refresh","reason":"staleness"}"#
        );
        assert_eq!(ei_poll_decision(rt, buf.as_mut_ptr(), buf.len()), 0);
        let mut stats = vec![0 as c_char; 8192];
        let n = ei_stats_json(rt, stats.as_mut_ptr(), stats.len());
        assert!(n > 0);
        let s: serde_json::Value =
            serde_json::from_str(CStr::from_ptr(stats.as_ptr()).to_str().unwrap()).unwrap();
        assert_eq!(
            (s["events_invalid"].as_u64(), s["events_unknown"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(
            ei_snapshot_load(rt, c"/nonexistent/x.snap".as_ptr()),
            EI_ERR_SNAPSHOT
        );
        ei_runtime_free(rt);
        ei_runtime_free(std::ptr::null_mut());
        assert_eq!(
            CStr::from_ptr(ei_version()).to_str().unwrap(),
            env!("CARGO_PKG_VERSION")
        );
    }
}
