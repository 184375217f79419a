//! The test process's open descriptors. Tests that hold thousands of connections at once
//! reserve them from one budget, the soft limit (raised to the hard one, as the `jobcert`
//! binary does for itself) less what the other tests need, so two of them never run the
//! process out together; a test that needs more than the hard limit allows fails with the fix
//! named rather than being skipped.

use std::sync::{Arc, OnceLock};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Descriptors left to the tests that reserve none (each holds a few dozen at most).
const UNRESERVED: u64 = 2_048;

/// The most descriptors the budget counts, whatever the limit (an unlimited one among them).
const MOST: u64 = 1 << 24;

/// The budget and its size.
static BUDGET: OnceLock<(Arc<Semaphore>, u64)> = OnceLock::new();

/// Reserves `need` descriptors for as long as the permit lives, waiting while other tests hold
/// too many; fails the test if the limit cannot hold `need` beside the other tests.
pub async fn reserve(need: u64) -> OwnedSemaphorePermit {
    let (budget, size) = BUDGET.get_or_init(|| {
        let size = raise().min(MOST).saturating_sub(UNRESERVED);
        (Arc::new(Semaphore::new(size as usize)), size)
    });
    assert!(
        need <= *size,
        "this test holds {need} descriptors beside the {UNRESERVED} left to other tests, but \
         the open-descriptor limit leaves {size}; raise it (ulimit -n {})",
        need + UNRESERVED
    );
    let need = u32::try_from(need).expect("fewer than 2^32 descriptors");
    budget
        .clone()
        .acquire_many_owned(need)
        .await
        .expect("the budget is never closed")
}

/// Raises the soft limit on open descriptors to the hard one; the soft limit then.
fn raise() -> u64 {
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
    limit.rlim_cur
}
