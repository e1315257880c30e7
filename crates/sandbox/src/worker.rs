//! The worker process: reads jobs on standard input, answers on standard output, one at a time.
//!
//! It runs with an empty environment (a filter's `env` or `$ENV` sees nothing of the gateway's
//! secrets), dies with the gateway (`PR_SET_PDEATHSIG`), and runs jobs on a thread with a large
//! stack so that legitimately recursive filters work; whatever exhausts it (a stack overflow, an
//! allocation failure) ends this process only, and the gateway starts another.

use std::collections::HashMap;
use std::io::{self, BufReader, BufWriter};

use crate::jq::{Program, RunError};
use crate::wire::{self, Status};

/// Compiled filters kept; past it the cache starts over.
const CACHED: usize = 128;
/// The stack jobs run on (reserved, committed only as used).
const JOB_STACK: usize = 256 << 20;

/// Serves jobs until standard input ends. Never returns an error for a bad job: it is answered.
pub fn serve(max_output: usize) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and changes nothing else.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
    }
    std::thread::Builder::new()
        .name("jq-worker".into())
        .stack_size(JOB_STACK)
        .spawn(move || serve_on_this_thread(max_output))?
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("the worker thread failed")))
}

fn serve_on_this_thread(max_output: usize) -> io::Result<()> {
    let mut input = BufReader::new(io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    let mut programs: HashMap<String, Program> = HashMap::new();
    while let Some(frame) = wire::read_frame(&mut input)? {
        let (status, body) = answer(&frame, &mut programs, max_output);
        wire::write_frame(&mut output, &[&[status as u8], &body])?;
    }
    Ok(())
}

fn answer(
    frame: &[u8],
    programs: &mut HashMap<String, Program>,
    max_output: usize,
) -> (Status, Vec<u8>) {
    let Some((filter, input)) = wire::parse_jq_job(frame) else {
        return (Status::BadJob, b"malformed job".to_vec());
    };
    if !programs.contains_key(filter) {
        if programs.len() >= CACHED {
            programs.clear();
        }
        match Program::compile(filter) {
            Ok(p) => {
                programs.insert(filter.to_string(), p);
            }
            Err(e) => return (Status::DoesNotCompile, e.into_bytes()),
        }
    }
    match programs[filter].run(input, max_output) {
        Ok(out) => (Status::Ok, out),
        Err(e @ RunError::Input(_)) => (Status::BadInput, e.to_string().into_bytes()),
        Err(e @ RunError::Filter(_)) => (Status::FilterFailed, e.to_string().into_bytes()),
        Err(RunError::OutputTooLarge) => (Status::OutputTooLarge, Vec::new()),
    }
}
