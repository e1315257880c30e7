//! The open-file limit and the connection cap: the limit is raised to its hard limit at start, and
//! the default cap (10,000 connections) sized down to what the limit allows, so that a default
//! start never promises what it cannot hold; an operator asking for more than that is warned.

/// Descriptors kept for what is not a client connection (store, listeners, logs, upstream pools).
const RESERVED: u64 = 256;
/// The cap when none is asked for and the limit allows it.
const DEFAULT_CONNECTIONS: usize = 10_000;

/// The open-file limit, raised to its hard limit when allowed.
fn raised_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                lim = wanted;
            }
        }
    }
    Some(lim.rlim_cur)
}

/// The connection cap: `asked`, or the default sized to the open-file limit (each proxied
/// connection may hold a client and an upstream descriptor).
pub fn max_connections(asked: Option<usize>) -> usize {
    let Some(files) = raised_limit() else {
        return asked.unwrap_or(DEFAULT_CONNECTIONS).max(1);
    };
    let allowed = (files.saturating_sub(RESERVED) / 2).max(1) as usize;
    match asked {
        Some(n) if n > allowed => {
            tracing::warn!(
                open_files = files,
                max_connections = n,
                "the open-file limit is below what --max-connections may need: raise `ulimit -n`"
            );
            n.max(1)
        }
        Some(n) => n.max(1),
        None => {
            let n = DEFAULT_CONNECTIONS.min(allowed);
            tracing::info!(open_files = files, max_connections = n, "connection cap");
            n
        }
    }
}
