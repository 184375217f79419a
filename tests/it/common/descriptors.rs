//! The test process's limit on open descriptors: tests that hold thousands of connections
//! raise the soft limit to the hard one, as the `jobcert` binary does for itself, and fail
//! with the fix named when even the hard limit is too low, rather than being skipped.

/// Raises the soft limit on open descriptors to the hard one; fails the test if that is
/// below `need`.
pub fn ensure(need: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into the struct it is given, nothing else.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0,
        "reading the open-descriptor limit"
    );
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: limit.rlim_max,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        }
    }
    assert!(
        limit.rlim_cur >= need,
        "this test holds {need} descriptors, but the open-descriptor limit is {} (hard {}); \
         raise it (ulimit -n {need})",
        limit.rlim_cur,
        limit.rlim_max
    );
}
